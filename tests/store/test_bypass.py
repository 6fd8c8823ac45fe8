"""The bypass state machine in the store: matrix, four eyes, never-allowed tables, expiry, tampering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from ops.roles import user
from store import bypass, db
from store.errors import InvalidTransition, NotFound, PolicyViolation
from store.schema import alerts, audit_log, bypass_requests
from tests.bypass_rows import add_blocked_suite, checklist

ONCALL, LEAD, LEAD2, MANAGER = "oncall@company.com", "data-eng-lead@company.com", "lead2@company.com", "manager@company.com"
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def at(monkeypatch: pytest.MonkeyPatch):
    """Set the product clock (DQ_NOW) to T0 + the given hours."""

    def move(hours: float = 0) -> datetime:
        now = T0 + timedelta(hours=hours)
        monkeypatch.setenv("DQ_NOW", now.isoformat())
        return now

    move(0)
    return move


def _actions(request_id: int) -> list[str]:
    return [e.action for e in bypass.history(request_id)[1]]


def test_silver_lifecycle_on_both_stores(store_url: str, at) -> None:
    add_blocked_suite("silver.orders", "silver")
    request_id = bypass.create_request(user(ONCALL), checklist("silver.orders", hours=6))
    assert bypass.get(request_id).status == "pending"
    assert bypass.honoured_bypass("silver.orders").request is None

    active = bypass.approve(user(LEAD), request_id)

    assert (active.status, active.approvers) == ("active", (LEAD,))
    assert active.expires_at == T0 + timedelta(hours=6)
    assert active.approvals[0].role == "data_eng_lead"
    assert bypass.honoured_bypass("silver.orders").request.id == request_id
    at(5.5)
    assert active.time_left(at(5.5)) == timedelta(minutes=30)
    at(6)
    assert "expired" in bypass.honoured_bypass("silver.orders").problems[0]  # housekeeping not run yet
    assert bypass.expire_due() == [request_id]
    assert bypass.get(request_id).status == "expired"
    assert _actions(request_id) == ["bypass.requested", "bypass.approved", "bypass.activated", "bypass.expired"]


def test_gold_needs_a_lead_and_a_manager_who_are_different_people(sqlite_store: str, at) -> None:
    add_blocked_suite("gold.revenue", "gold")
    request_id = bypass.create_request(user(ONCALL), checklist("gold.revenue", hours=12))

    after_lead = bypass.approve(user(LEAD), request_id)
    with pytest.raises(PolicyViolation, match="still needs \\(manager\\)"):
        bypass.approve(user(LEAD2), request_id)
    with pytest.raises(PolicyViolation, match="already approved"):
        bypass.approve(user(LEAD), request_id)
    after_manager = bypass.approve(user(MANAGER), request_id)

    assert after_lead.status == "pending"
    assert after_manager.status == "active"
    assert sorted(after_manager.approvers) == sorted([LEAD, MANAGER])
    assert bypass.honoured_bypass("gold.revenue").request.id == request_id


def test_requester_never_approves_or_rejects_own_request(sqlite_store: str, at) -> None:
    add_blocked_suite("silver.orders", "silver")
    request_id = bypass.create_request(user(LEAD), checklist("silver.orders"))

    with pytest.raises(PolicyViolation, match="cannot approve it \\(four eyes\\)"):
        bypass.approve(user(LEAD), request_id)
    with pytest.raises(PolicyViolation, match="cannot approve it"):
        bypass.approve(user(LEAD.upper()), request_id)
    with pytest.raises(PolicyViolation, match="cannot reject it"):
        bypass.reject(user(LEAD), request_id, "no")
    assert bypass.get(request_id).status == "pending"


def test_an_approver_needs_the_role_the_matrix_asks_for(sqlite_store: str, at) -> None:
    add_blocked_suite("silver.orders", "silver")
    request_id = bypass.create_request(user(ONCALL), checklist("silver.orders"))

    with pytest.raises(PolicyViolation, match="holds none of the roles .* data_eng_lead"):
        bypass.approve(user(MANAGER), request_id)
    with pytest.raises(PolicyViolation, match="has no role .* config/roles.yaml"):
        bypass.approve(user("stranger@company.com"), request_id)


@pytest.mark.parametrize("data_class", ["pii", "financial", "compliance"])
def test_never_allowed_tables_are_refused_by_the_store(sqlite_store: str, at, data_class: str) -> None:
    add_blocked_suite("silver.customers", "silver", [data_class])

    with pytest.raises(PolicyViolation, match=f"holds {data_class} data and can NEVER be bypassed"):
        bypass.create_request(user(ONCALL), checklist("silver.customers"))
    assert "never be bypassed" in bypass.honoured_bypass("silver.customers").problems[0]
    assert [s.name for s in bypass.bypassable_suites()] == []


def test_a_table_that_became_pii_after_the_request_cannot_be_approved(sqlite_store: str, at) -> None:
    add_blocked_suite("silver.orders", "silver")
    request_id = bypass.create_request(user(ONCALL), checklist("silver.orders"))
    with db.write() as conn:
        conn.exec_driver_sql("UPDATE suites SET data_classes = '[\"pii\"]' WHERE name = 'silver.orders'")

    with pytest.raises(PolicyViolation, match="NEVER be bypassed"):
        bypass.approve(user(LEAD), request_id)


@pytest.mark.parametrize(("layer", "hours", "allowed"), [
    ("silver", 24, True), ("silver", 24.5, False), ("gold", 12, True), ("gold", 13, False),
    ("bronze", 24, True), ("silver", 0, False),
])
def test_duration_is_capped_by_the_matrix(sqlite_store: str, at, layer: str, hours: float, allowed: bool) -> None:
    add_blocked_suite(f"{layer}.t", layer)
    if allowed:
        assert bypass.create_request(user(ONCALL), checklist(f"{layer}.t", hours=hours)) > 0
    else:
        with pytest.raises(PolicyViolation, match="at most|must be positive"):
            bypass.create_request(user(ONCALL), checklist(f"{layer}.t", hours=hours))


def test_every_checklist_item_is_required(sqlite_store: str, at) -> None:
    add_blocked_suite("silver.orders", "silver")
    with pytest.raises(PolicyViolation, match="lacks Rollback plan, Fix timeline"):
        bypass.create_request(user(ONCALL), checklist("silver.orders", rollback_plan=" ", fix_timeline=""))


def test_the_incident_link_must_be_a_web_address(sqlite_store: str, at) -> None:
    add_blocked_suite("silver.orders", "silver")
    with pytest.raises(PolicyViolation, match="is not a web address"):
        bypass.create_request(user(ONCALL), checklist("silver.orders", incident_url="javascript:alert(1)"))


def test_unknown_suite_is_not_found(sqlite_store: str, at) -> None:
    with pytest.raises(NotFound, match="suite 'silver.nope' is not in the store"):
        bypass.create_request(user(ONCALL), checklist("silver.nope"))


def test_rejection_needs_a_reason_and_closes_the_request(sqlite_store: str, at) -> None:
    add_blocked_suite("silver.orders", "silver")
    request_id = bypass.create_request(user(ONCALL), checklist("silver.orders"))

    with pytest.raises(PolicyViolation, match="needs a reason"):
        bypass.reject(user(LEAD), request_id, "  ")
    rejected = bypass.reject(user(LEAD), request_id, "fix it upstream instead")

    assert (rejected.status, rejected.close_note, rejected.closed_by) == ("rejected", "fix it upstream instead", LEAD)
    with pytest.raises(InvalidTransition, match="is rejected, not pending"):
        bypass.approve(user(LEAD2), request_id)


def test_rollback_disables_now_and_queues_a_notification(sqlite_store: str, at) -> None:
    add_blocked_suite("silver.orders", "silver")
    request_id = bypass.create_request(user(ONCALL), checklist("silver.orders"))
    bypass.approve(user(LEAD), request_id)

    rolled = bypass.rollback(user(ONCALL), request_id, "downstream jobs fail")

    assert rolled.status == "rolled_back"
    assert bypass.honoured_bypass("silver.orders").request is None
    with db.read() as conn:
        alert = conn.execute(sa.select(alerts)).one()
    assert (alert.kind, alert.channel, alert.destination, alert.status) == ("bypass", "store", None, "pending")
    assert "ROLLED BACK" in alert.payload["text"]
    with pytest.raises(InvalidTransition, match="not active"):
        bypass.restore(user(ONCALL), request_id, "again")


def test_restore_ends_early_with_the_incident_note(sqlite_store: str, at) -> None:
    add_blocked_suite("silver.orders", "silver")
    request_id = bypass.create_request(user(ONCALL), checklist("silver.orders"))
    bypass.approve(user(LEAD), request_id)
    at(1)

    with pytest.raises(PolicyViolation, match="needs a note"):
        bypass.restore(user(ONCALL), request_id, "")
    restored = bypass.restore(user(ONCALL), request_id, "fix deployed in release 4.2")

    assert (restored.status, restored.close_note) == ("restored", "fix deployed in release 4.2")
    assert restored.closed_at == T0 + timedelta(hours=1)
    assert bypass.honoured_bypass("silver.orders").request is None


def _tamper(request_id: int, **values: object) -> None:
    with db.write() as conn:
        conn.execute(bypass_requests.update().where(bypass_requests.c.id == request_id).values(**values))


def test_a_row_edited_to_extend_its_duration_is_not_honoured(store_url: str, at) -> None:
    add_blocked_suite("silver.orders", "silver")
    request_id = bypass.create_request(user(ONCALL), checklist("silver.orders", hours=6))
    active = bypass.approve(user(LEAD), request_id)
    _tamper(request_id, expires_at=active.expires_at + timedelta(hours=12), duration_hours=18)
    at(7)

    problems = bypass.honoured_bypass("silver.orders").problems

    assert bypass.honoured_bypass("silver.orders").request is None
    assert any("signature does not match" in p for p in problems)


def test_tampering_beyond_the_matrix_is_named(sqlite_store: str, at) -> None:
    add_blocked_suite("silver.orders", "silver")
    request_id = bypass.create_request(user(ONCALL), checklist("silver.orders", hours=6))
    active = bypass.approve(user(LEAD), request_id)
    _tamper(request_id, expires_at=active.expires_at + timedelta(days=7))

    problems = " ".join(bypass.honoured_bypass("silver.orders").problems)

    assert "longer than the matrix allows for silver (24 h)" in problems
    assert "signature does not match" in problems


def test_a_closed_bypass_set_back_to_active_is_not_honoured(sqlite_store: str, at) -> None:
    add_blocked_suite("silver.orders", "silver")
    request_id = bypass.create_request(user(ONCALL), checklist("silver.orders", hours=6))
    bypass.approve(user(LEAD), request_id)
    bypass.rollback(user(ONCALL), request_id, "bad idea")
    _tamper(request_id, status="active")

    problems = bypass.honoured_bypass("silver.orders").problems

    assert any("audit log says it was closed (bypass.rolled_back)" in p for p in problems)


def test_a_forged_approval_row_is_not_honoured(sqlite_store: str, at) -> None:
    add_blocked_suite("gold.revenue", "gold")
    request_id = bypass.create_request(user(ONCALL), checklist("gold.revenue", hours=6))
    bypass.approve(user(LEAD), request_id)
    _tamper(request_id, status="active", activated_at=T0, expires_at=T0 + timedelta(hours=6), signature="0" * 64)

    problems = " ".join(bypass.honoured_bypass("gold.revenue").problems)

    assert "lacks approval by ['manager']" in problems
    assert "signature does not match" in problems


def test_the_dev_signing_key_lives_outside_the_store(dev_key_file: None, sqlite_store: str, at, isolated_env) -> None:
    add_blocked_suite("silver.orders", "silver")
    request_id = bypass.create_request(user(ONCALL), checklist("silver.orders"))
    bypass.approve(user(LEAD), request_id)

    keys = list(isolated_env.glob("bypass-signing-*.key"))

    assert len(keys) == 1 and keys[0].stat().st_mode & 0o777 == 0o600
    keys[0].write_bytes(b"another key")  # a key swapped after signing breaks every signature
    assert "signature does not match" in bypass.honoured_bypass("silver.orders").problems[0]


def test_a_configured_signing_key_is_used(sqlite_store: str, at, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DQ_BYPASS_SIGNING_KEY", "k1")
    add_blocked_suite("silver.orders", "silver")
    request_id = bypass.create_request(user(ONCALL), checklist("silver.orders"))
    bypass.approve(user(LEAD), request_id)
    assert bypass.honoured_bypass("silver.orders").request is not None

    monkeypatch.setenv("DQ_BYPASS_SIGNING_KEY", "k2")

    assert bypass.honoured_bypass("silver.orders").request is None


def test_audit_log_records_who_and_when(sqlite_store: str, at) -> None:
    add_blocked_suite("silver.orders", "silver")
    request_id = bypass.create_request(user(ONCALL), checklist("silver.orders"))
    at(0.5)
    bypass.approve(user(LEAD), request_id)

    with db.read() as conn:
        rows = conn.execute(sa.select(audit_log).where(audit_log.c.action == "bypass.approved")).all()

    assert [(r.actor, r.at, r.details["role"]) for r in rows] == [(LEAD, T0 + timedelta(minutes=30), "data_eng_lead")]


def test_an_approver_cannot_reject_after_approving(sqlite_store: str, at) -> None:
    add_blocked_suite("gold.revenue", "gold")
    request_id = bypass.create_request(user(ONCALL), checklist("gold.revenue"))
    bypass.approve(user(LEAD), request_id)

    with pytest.raises(PolicyViolation, match="has already approved bypass"):
        bypass.reject(user(LEAD), request_id, "changed my mind")
    assert bypass.reject(user(MANAGER), request_id, "not for revenue").status == "rejected"


def test_concurrent_gold_approvals_activate_the_request(pg_store: str, at) -> None:
    """A lead and a manager approving at the same moment: the row lock serializes them."""
    import threading

    add_blocked_suite("gold.revenue", "gold")
    request_id = bypass.create_request(user(ONCALL), checklist("gold.revenue"))
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def decide(name: str) -> None:
        barrier.wait()
        try:
            bypass.approve(user(name), request_id)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=decide, args=(n,)) for n in (LEAD, MANAGER)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    assert bypass.get(request_id).status == "active"
