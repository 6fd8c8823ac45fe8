"""Red team: the failover procedure's people rules and store tampering, each refusal audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cli import main
from ops import bypass as bypass_ops
from ops.roles import user
from store import bypass
from store.errors import PolicyViolation
from tests.security.gate_attacks import (
    LEAD,
    LEAD2,
    NOBODY,
    ONCALL,
    Bench,
    audit,
    raw,
    request_form,
    suite_yaml,
)


@pytest.fixture
def bench(store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Bench:
    monkeypatch.delenv("DQ_TEST_ALLOW_CLOCK_OVERRIDE", raising=False)
    bench = Bench(tmp_path, monkeypatch)
    bench.table("shipments")
    bench.load({
        "silver.yaml": suite_yaml("silver.shipments", "shipments"),
        "gold.yaml": suite_yaml("gold.shipments", "shipments", layer="gold", rules=[("g_id", "id", "HIGH")]),
    })
    assert main(["run_dq_checks", "--suite", "silver.shipments"]) == 1
    assert main(["run_dq_checks", "--suite", "gold.shipments"]) == 1
    return bench


def _refused(step: str, match: str) -> None:
    row = audit("bypass.refused")[-1]
    assert row["step"] == step and match in row["reason"], row


@pytest.mark.parametrize("suite", ["silver.shipments", "gold.shipments"])
def test_the_requester_cannot_approve_their_own_request(bench: Bench, suite: str) -> None:
    request_id = bypass_ops.request(user(LEAD), request_form(suite, hours=6))

    with pytest.raises(PolicyViolation, match="four eyes"):
        bypass_ops.approve(user(LEAD), request_id)

    _refused("approve", "four eyes")


@pytest.mark.parametrize("step", ["request", "approve"])
def test_a_user_without_a_role_can_do_nothing(bench: Bench, step: str) -> None:
    if step == "request":
        with pytest.raises(PolicyViolation, match="has no role"):
            bypass_ops.request(user(NOBODY), request_form("silver.shipments"))
    else:
        request_id = bypass_ops.request(user(ONCALL), request_form("silver.shipments"))
        with pytest.raises(PolicyViolation, match="has no role"):
            bypass_ops.approve(user(NOBODY), request_id)

    _refused(step, "has no role")
    assert audit("bypass.refused")[-1]["actor"] == NOBODY


def test_on_call_cannot_approve_a_silver_bypass(bench: Bench) -> None:
    request_id = bypass_ops.request(user(LEAD), request_form("silver.shipments"))

    with pytest.raises(PolicyViolation, match="holds none of the roles"):
        bypass_ops.approve(user(ONCALL), request_id)

    _refused("approve", "holds none of the roles")


def test_two_leads_do_not_make_a_gold_approval(bench: Bench) -> None:
    request_id = bypass_ops.request(user(ONCALL), request_form("gold.shipments", hours=6))
    bypass_ops.approve(user(LEAD), request_id)

    with pytest.raises(PolicyViolation, match="holds none of the roles"):
        bypass_ops.approve(user(LEAD2), request_id)

    _refused("approve", "holds none of the roles")


@pytest.mark.parametrize(("suite", "hours"), [("silver.shipments", 25), ("gold.shipments", 12.5)])
def test_a_bypass_longer_than_the_matrix_is_refused(bench: Bench, suite: str, hours: float) -> None:
    with pytest.raises(PolicyViolation, match="may last at most"):
        bypass_ops.request(user(ONCALL), request_form(suite, hours=hours))

    _refused("request", "may last at most")


def _active() -> int:
    request_id = bypass_ops.request(user(ONCALL), request_form("silver.shipments", hours=2))
    bypass_ops.approve(user(LEAD), request_id)
    return request_id


LATER = (datetime.now(UTC) + timedelta(days=3)).replace(tzinfo=None, microsecond=0).isoformat(" ")
TAMPERING = [
    ("UPDATE bypass_requests SET expires_at = :later", "bypass #{id} (silver.shipments) fails its signature"),
    ("UPDATE bypass_approvals SET approver = 'someone@else.com'", "of bypass #{id} by someone@else.com (approve) fails"),
    ("UPDATE bypass_requests SET signature = 'deadbeef'", "bypass #{id} (silver.shipments) fails its signature"),
]


@pytest.mark.parametrize(("sql", "problem"), TAMPERING)
def test_an_edited_bypass_row_makes_the_gate_refuse(bench: Bench, capsys: pytest.CaptureFixture[str], sql: str,
                                                    problem: str) -> None:
    request_id = _active()
    raw(sql, later=LATER)
    capsys.readouterr()

    code = main(["dq_gate", "--suite", "silver.shipments", "--bypass", "--max-age", "60"])

    assert code == 2  # refused: the gate does not decide on edited records (store.audit.records_intact)
    assert problem.format(id=request_id) in capsys.readouterr().err
    assert problem.format(id=request_id) in audit("gate.refused")[-1]["reason"]


@pytest.mark.parametrize("closing", ["restore", "rollback"])
def test_a_closed_bypass_flipped_back_to_active_is_not_honoured(
    bench: Bench, capsys: pytest.CaptureFixture[str], closing: str
) -> None:
    request_id = _active()
    if closing == "restore":
        bypass.restore(user(LEAD), request_id, "fixed")
    else:
        bypass_ops.rollback(user(LEAD), request_id, "harm")
    raw("UPDATE bypass_requests SET status = 'active', closed_at = NULL")
    capsys.readouterr()

    code = main(["dq_gate", "--suite", "silver.shipments", "--bypass", "--max-age", "60"])

    assert code == 1
    assert "the audit log says it was closed" in capsys.readouterr().err
    assert audit("gate.override_refused")[-1]["suite"] == "silver.shipments"


def test_a_bypass_for_one_suite_does_not_cover_another_on_the_same_table(
    bench: Bench, capsys: pytest.CaptureFixture[str]
) -> None:
    _active()
    capsys.readouterr()

    code = main(["dq_gate", "--suite", "gold.shipments", "--bypass", "--max-age", "60"])

    assert code == 1
    assert "no approved bypass is active for gold.shipments" in capsys.readouterr().err
    assert audit("gate.override_refused")[-1]["suite"] == "gold.shipments"
