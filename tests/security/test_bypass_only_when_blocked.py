"""Red team: bypassing a green table in advance, approving after it passed, keeping a bypass past the fix.

A bypass may be requested, approved and honoured only while a blocking rule of the suite is
failing in its latest complete run; when the suite passes again the bypass ends, audited and notified.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

import clock
from cli import main
from ops import bypass as bypass_ops
from ops import housekeeping
from ops.roles import user
from store import bypass, db
from store.errors import PolicyViolation
from store.schema import alerts
from tests.bypass_rows import add_run
from tests.security.gate_attacks import (
    LEAD,
    MANAGER,
    ONCALL,
    Bench,
    audit,
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
    return bench


def _refused(match: str, suite: str, step: str = "request") -> None:
    row = audit("bypass.refused")[-1]
    assert (row["suite"], row["step"]) == (suite, step), row
    assert match in row["reason"]


@pytest.mark.parametrize("suite", ["silver.shipments", "gold.shipments"])
def test_a_green_suite_cannot_be_bypassed_in_advance(bench: Bench, suite: str) -> None:
    bench.fix("shipments")
    assert main(["run_dq_checks", "--suite", suite]) == 0

    with pytest.raises(PolicyViolation, match="no blocking rule"):
        bypass_ops.request(user(ONCALL), request_form(suite))

    _refused("no blocking rule", suite)


def test_a_suite_never_run_cannot_be_bypassed(bench: Bench) -> None:
    with pytest.raises(PolicyViolation, match="no complete run"):
        bypass_ops.request(user(ONCALL), request_form("silver.shipments"))

    _refused("no complete run", "silver.shipments")


def test_a_failing_partial_run_does_not_justify_a_bypass(bench: Bench) -> None:
    bench.fix("shipments")
    assert main(["run_dq_checks", "--suite", "silver.shipments"]) == 0
    add_run("silver.shipments", [("shipments_id_not_null", "CRITICAL", "FAILED")])  # partial, newer

    with pytest.raises(PolicyViolation, match="no blocking rule"):
        bypass_ops.request(user(ONCALL), request_form("silver.shipments"))

    _refused("no blocking rule", "silver.shipments")


def test_a_failing_low_rule_does_not_justify_a_bypass(bench: Bench) -> None:
    add_run("silver.shipments", [("shipments_id_not_null", "CRITICAL", "PASSED"),
                                 ("shipments_email_not_null", "HIGH", "PASSED"),
                                 ("shipments_amount_not_null", "LOW", "FAILED")])

    with pytest.raises(PolicyViolation, match="no blocking rule"):
        bypass_ops.request(user(ONCALL), request_form("silver.shipments"))

    _refused("no blocking rule", "silver.shipments")


def test_approval_after_the_suite_passed_again_is_refused(bench: Bench) -> None:
    assert main(["run_dq_checks", "--suite", "silver.shipments"]) == 1
    request_id = bypass_ops.request(user(ONCALL), request_form("silver.shipments"))
    bench.fix("shipments")
    assert main(["run_dq_checks", "--suite", "silver.shipments"]) == 0

    with pytest.raises(PolicyViolation, match="no blocking rule"):
        bypass_ops.approve(user(LEAD), request_id)

    _refused("no blocking rule", "silver.shipments", "approve")
    assert bypass.get(request_id).status == "pending"


def test_the_second_gold_approval_after_a_fix_is_refused(bench: Bench) -> None:
    assert main(["run_dq_checks", "--suite", "gold.shipments"]) == 1
    request_id = bypass_ops.request(user(ONCALL), request_form("gold.shipments", hours=6))
    bypass_ops.approve(user(LEAD), request_id)
    bench.fix("shipments")
    assert main(["run_dq_checks", "--suite", "gold.shipments"]) == 0

    with pytest.raises(PolicyViolation, match="no blocking rule"):
        bypass_ops.approve(user(MANAGER), request_id)

    _refused("no blocking rule", "gold.shipments", "approve")


def _active(bench: Bench, suite: str = "silver.shipments") -> int:
    assert main(["run_dq_checks", "--suite", suite]) == 1
    request_id = bypass_ops.request(user(ONCALL), request_form(suite))
    bypass_ops.approve(user(LEAD), request_id)
    return request_id


def _notices(request_id: int) -> list[dict]:
    with db.read() as conn:
        rows = conn.execute(sa.select(alerts.c.payload).where(alerts.c.kind == "bypass")).scalars().all()
    return [p for p in rows if p.get("request_id") == request_id]


def test_a_passing_gate_ends_the_bypass_for_good(bench: Bench, capsys: pytest.CaptureFixture[str]) -> None:
    request_id = _active(bench)
    bench.fix("shipments")
    assert main(["dq_gate", "--suite", "silver.shipments"]) == 0
    bench.table("shipments")  # broken again
    capsys.readouterr()

    code = main(["dq_gate", "--suite", "silver.shipments", "--bypass"])

    assert code == 1, capsys.readouterr().out
    assert bypass.get(request_id).status == "ended"
    assert audit("bypass.ended")[-1]["entity_id"] == str(request_id)
    assert _notices(request_id)[-1]["event"] == "bypass.ended"
    assert audit("gate.override_refused")[-1]["suite"] == "silver.shipments"


def test_a_passing_run_ends_the_bypass_even_before_housekeeping(bench: Bench, capsys: pytest.CaptureFixture[str]) -> None:
    request_id = _active(bench)
    bench.fix("shipments")
    assert main(["run_dq_checks", "--suite", "silver.shipments"]) == 0  # the scheduler's green run
    bench.table("shipments")
    assert main(["run_dq_checks", "--suite", "silver.shipments"]) == 1
    capsys.readouterr()

    code = main(["dq_gate", "--suite", "silver.shipments", "--bypass", "--max-age", "60"])

    err = capsys.readouterr().err
    assert code == 1
    assert f"bypass #{request_id}: the suite passed again" in err
    assert audit("gate.override_refused")[-1]["suite"] == "silver.shipments"


def test_housekeeping_ends_a_bypass_once_the_suite_passes(bench: Bench) -> None:
    request_id = _active(bench)
    bench.fix("shipments")
    assert main(["run_dq_checks", "--suite", "silver.shipments"]) == 0

    job = next(j for j in housekeeping.jobs() if j.name == "ops.bypass.end_passed_bypasses")
    assert job.every_seconds == 60
    assert job.run(clock.utcnow()) == [request_id]
    assert job.run(clock.utcnow()) == []

    assert bypass.get(request_id).status == "ended"
    assert audit("bypass.ended")[-1]["actor"] == "housekeeping"
    assert "passes again" in _notices(request_id)[-1]["text"]
    with pytest.raises(Exception, match="not active"):
        bypass_ops.rollback(user(LEAD), request_id, "too late")
