"""Red team, issue 12 deliverable 5: every state change checks roles below the pages, on SQLite and PostgreSQL.

Each attempt is made by a user the roles file (config/roles.yaml) does not allow, through the ops
function the console and the CLI both call; it must be refused with a hint naming who can, change
nothing, and leave a `<entity>.refused` audit row naming the user and the step.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

import clock
from ops import alert_retry, lifecycle, roles, run_requests
from ops import bypass as bypass_ops
from ops import violations as violation_actions
from ops.errors import PermissionDenied
from store import db, schema
from store.errors import PolicyViolation
from tests import bypass_rows, seed
from tests.cli.inprocess import run
from tests.ops.store_data import load_rules, write_manifests

NOBODY = "intruder@example.com"  # in no role
ON_CALL = "oncall@company.com"
MANAGER = "manager@company.com"
LEAD = "data-eng-lead@company.com"


@pytest.fixture
def loaded(store_url: str, tmp_path: Path) -> str:
    load_rules(write_manifests(tmp_path / "rules"))
    return store_url


def _audit(action: str) -> list[sa.Row]:
    with db.read() as conn:
        return list(conn.execute(sa.select(schema.audit_log).where(schema.audit_log.c.action == action)))


def _violation() -> int:
    return seed.violation(rule_name="orders_id_not_null", detected_at=clock.utcnow())


def _status(violation_id: int) -> tuple[str, object]:
    with db.read() as conn:
        row = conn.execute(sa.select(schema.violations).where(schema.violations.c.id == violation_id)).one()
    return row.status, row.snoozed_until


# --- violations, run now and alert retry: every role may, a user in no role may not -------------

ATTEMPTS: dict[str, Callable[[roles.User, int], object]] = {
    "acknowledge": lambda user, vid: violation_actions.acknowledge(user, [vid], "looked"),
    "snooze": lambda user, vid: violation_actions.snooze(user, [vid], clock.utcnow() + timedelta(hours=4), "quiet"),
    "resolve": lambda user, vid: violation_actions.resolve(user, vid, "false_positive", "not a problem"),
}


@pytest.mark.parametrize("action", list(ATTEMPTS))
@pytest.mark.parametrize("name", [NOBODY, "", "ONCALL@company.com.evil"])
def test_a_user_in_no_role_cannot_silence_a_violation(loaded, action, name) -> None:
    vid = _violation()
    with pytest.raises(PermissionDenied, match=rf"may not {action}\. Hint: ask .*{ON_CALL}"):
        ATTEMPTS[action](roles.user(name), vid)
    assert _status(vid) == ("open", None)  # not acknowledged, not snoozed, not resolved
    [refused] = _audit("violation.refused")
    assert (refused.actor, refused.details["step"], refused.entity_id) == (name or "anonymous", action, str(vid))
    assert _audit(f"violation.{action}d") == [] and _audit("violation.snoozed") == []


@pytest.mark.parametrize("action", list(ATTEMPTS))
def test_on_call_may_and_the_audit_row_names_them(loaded, action) -> None:
    vid = _violation()
    ATTEMPTS[action](roles.user(ON_CALL), vid)
    assert _status(vid) != ("open", None)
    assert _audit("violation.refused") == []


def test_run_now_needs_a_role(loaded) -> None:
    with pytest.raises(PermissionDenied, match=r"may not run now\. Hint: ask"):
        run_requests.run_now(roles.user(NOBODY), "silver.orders")
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.run_requests)).scalar() == 0
    [refused] = _audit("run_request.refused")
    assert (refused.actor, refused.details["step"], refused.details["suite"]) == (NOBODY, "run_now", "silver.orders")
    assert run_requests.run_now(roles.user(ON_CALL), "silver.orders") > 0


def test_alert_retry_needs_a_role(loaded) -> None:
    seed.alert(status="failed", sent_at=None)
    with pytest.raises(PermissionDenied, match=r"may not alert retry\. Hint: ask"):
        alert_retry.retry_failed(roles.user(NOBODY))
    with db.read() as conn:
        assert conn.execute(sa.select(schema.alerts.c.status)).scalars().all() == ["failed"]
    assert [r.actor for r in _audit("alert.refused")] == [NOBODY]
    assert alert_retry.retry_failed(roles.user(ON_CALL)) == 1
    assert [(r.actor, r.details["count"]) for r in _audit("alert.retried")] == [(ON_CALL, 1)]


# --- the rule lifecycle: data_eng_lead or admin only ---------------------------------------------


@pytest.mark.parametrize(("state", "start"), [("disabled", "active"), ("retired", "active"), ("enabled", "disabled")])
@pytest.mark.parametrize("name", [NOBODY, ON_CALL, MANAGER])
def test_only_a_lead_changes_a_rule_state(loaded, state, start, name) -> None:
    if start == "disabled":
        lifecycle.set_rule_state(roles.user(LEAD), "customers_fresh", "disabled", "set up")
    with pytest.raises(PermissionDenied, match=r"Hint: ask .*data-eng-lead@company.com"):
        lifecycle.set_rule_state(roles.user(name), "customers_fresh", state, "because I can")
    with db.read() as conn:
        status = conn.execute(sa.select(schema.rules.c.status).where(schema.rules.c.name == "customers_fresh")).scalar()
    assert status == start
    [refused] = _audit("rule.refused")
    assert (refused.actor, refused.entity_id) == (name, "customers_fresh")
    assert refused.details["step"] == {"disabled": "rule_disable", "retired": "rule_retire", "enabled": "rule_enable"}[state]


# --- bypass steps: the store refuses a user in no role, and audits it ------------------------------


def _pending_bypass() -> int:
    bypass_rows.add_blocked_suite("silver.shipments")
    return bypass_ops.request(roles.user(ON_CALL), bypass_rows.checklist("silver.shipments"))


BYPASS_STEPS: dict[str, Callable[[roles.User, int], object]] = {
    "approve": lambda user, rid: bypass_ops.approve(user, rid),
    "reject": lambda user, rid: bypass_ops.reject(user, rid, "no"),
}


@pytest.mark.parametrize("step", list(BYPASS_STEPS))
@pytest.mark.parametrize("name", [NOBODY, ON_CALL])
def test_bypass_decisions_need_the_matrix_role(loaded, step, name) -> None:
    request_id = _pending_bypass()
    with pytest.raises(PolicyViolation):
        BYPASS_STEPS[step](roles.user(name), request_id)
    assert bypass_ops.bypass_store.get(request_id).status == "pending"
    assert [(r.actor, r.details["step"]) for r in _audit("bypass.refused")] == [(name, step)]


def test_a_user_in_no_role_cannot_request_a_bypass(loaded) -> None:
    bypass_rows.add_blocked_suite("silver.shipments")
    with pytest.raises(PolicyViolation, match=r"has no role and cannot request a bypass"):
        bypass_ops.request(roles.user(NOBODY), bypass_rows.checklist("silver.shipments"))
    assert bypass_ops.bypass_store.list_requests() == []
    assert [r.actor for r in _audit("bypass.refused")] == [NOBODY]


# --- the CLI refuses the same users with the same words ----------------------------------------------


DISABLE = ["rules", "disable", "customers_fresh", "--reason", "x"]
RETIRE = ["rules", "retire", "customers_fresh", "--reason", "x"]


@pytest.mark.parametrize(
    ("actor", "argv", "entity", "step"),
    [
        (NOBODY, DISABLE, "rule", "rule_disable"),
        (ON_CALL, DISABLE, "rule", "rule_disable"),
        (MANAGER, DISABLE, "rule", "rule_disable"),
        (NOBODY, RETIRE, "rule", "rule_retire"),
        (ON_CALL, RETIRE, "rule", "rule_retire"),
        (NOBODY, ["send_alerts", "--retry-failed", "--no-escalate"], "alert", "alert_retry"),
        (NOBODY, ["run_dq_checks", "--suite", "silver.orders", "--async"], "run_request", "run_now"),
    ],
)
def test_the_cli_refuses_like_the_ops_functions(loaded, capsys, monkeypatch, actor, argv, entity, step) -> None:
    monkeypatch.setenv("DQ_ACTOR", actor)
    code, out, err = run(capsys, *argv)
    [refused] = _audit(f"{entity}.refused")
    assert code == 2 and refused.details["reason"] in err, (out, err)
    assert (refused.actor, refused.details["step"]) == (actor, step)
    assert "Hint: ask" in err


def test_console_and_cli_give_one_answer(loaded, capsys, monkeypatch) -> None:
    """The page's disabled-button reason is the CLI's refusal: one decision for both front doors."""
    from ops import permissions

    monkeypatch.setenv("DQ_ACTOR", ON_CALL)
    code, _, err = run(capsys, "rules", "retire", "customers_fresh", "--reason", "x")
    assert code == 2
    assert permissions.decide(roles.user(ON_CALL, mode="dev"), "rule_retire").reason in err
