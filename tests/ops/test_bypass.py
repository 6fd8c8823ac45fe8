"""Bypass use cases: failure details filled in, housekeeping expiry, history export."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from ops import bypass as bypass_ops
from ops import housekeeping
from ops.roles import user
from ops.run_checks import run_suite
from store import bypass, gate_reads
from tests.bypass_rows import (
    add_blocked_suite,
    add_run,
    add_suite,
    checklist,
    fix_orders,
    real_orders_suite,
)

ONCALL, LEAD = "oncall@company.com", "data-eng-lead@company.com"
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen(sqlite_store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DQ_NOW", T0.isoformat())


def test_failure_details_come_from_the_latest_failing_run() -> None:
    add_suite("silver.orders", "silver")
    add_run("silver.orders", [("orders_id_not_null", "HIGH", "FAILED")], started_at=T0 - timedelta(hours=2))
    failing = add_run("silver.orders", [("orders_amount_positive", "CRITICAL", "FAILED"), ("ok_rule", "LOW", "PASSED")],
                      started_at=T0 - timedelta(hours=1))
    add_run("silver.orders", [("orders_amount_positive", "CRITICAL", "WARNED")], started_at=T0)

    details = bypass_ops.failure_details("silver.orders")

    assert details.run_id == failing
    assert details.text.splitlines() == [
        f"Run #{failing} of silver.orders (FAILED) started 2026-03-01 07:00 UTC:",
        "- orders_amount_positive [CRITICAL] FAILED: orders_amount_positive: 3 rows are null",
        "Open violations: #1, #2",
    ]
    assert details.violation_ids == (1, 2)


def test_a_request_links_the_failing_run_when_details_are_blank() -> None:
    add_suite("silver.orders", "silver")
    run_id = add_run("silver.orders", [("orders_id_not_null", "HIGH", "FAILED")])

    request_id = bypass_ops.request(user(ONCALL), checklist("silver.orders", failure_details=""))

    stored = bypass.get(request_id)
    assert (stored.run_id, stored.violation_ids) == (run_id, (1,))
    assert stored.failure_details.startswith(f"Run #{run_id} of silver.orders (FAILED)")


def test_housekeeping_job_expires_due_bypasses() -> None:
    add_blocked_suite("silver.orders", "silver")
    request_id = bypass.create_request(user(ONCALL), checklist("silver.orders", hours=1))
    bypass.approve(user(LEAD), request_id)
    job = next(j for j in housekeeping.jobs() if j.name == "ops.bypass.expire_bypasses")

    assert job.every_seconds == 60
    assert job.run(T0 + timedelta(minutes=59)) == []
    assert job.run(T0 + timedelta(hours=1)) == [request_id]
    assert bypass.get(request_id).status == "expired"


def test_export_holds_the_request_approvals_and_audit_trail() -> None:
    add_blocked_suite("silver.orders", "silver")
    request_id = bypass.create_request(user(ONCALL), checklist("silver.orders"))
    bypass.approve(user(LEAD), request_id)
    bypass.rollback(user(ONCALL), request_id, "downstream failures")

    document = json.loads(bypass_ops.export_history(request_id, "json"))
    markdown = bypass_ops.export_history(request_id, "markdown")

    assert document["request"]["status"] == "rolled_back"
    assert document["request"]["approvals"][0]["approver"] == LEAD
    assert [e["action"] for e in document["audit"]] == [
        "bypass.requested", "bypass.approved", "bypass.activated", "bypass.rolled_back",
    ]
    assert markdown.startswith(f"# Bypass #{request_id}: silver.orders (silver.orders, silver)")
    assert f"{LEAD} (data_eng_lead): approve" in markdown
    assert "| bypass.rolled_back |" in markdown
    with pytest.raises(ValueError, match="unknown export format 'pdf'"):
        bypass_ops.export_history(request_id, "pdf")


def test_export_carries_the_ticket_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DQ_CONSOLE_URL", "https://dq.company.com")
    add_blocked_suite("silver.orders", "silver")
    request_id = bypass.create_request(user(ONCALL), checklist("silver.orders"))

    ticket = json.loads(bypass_ops.export_history(request_id, "json"))["ticket"]
    markdown = bypass_ops.export_history(request_id, "markdown")

    assert ticket == {"table": "silver.orders", "suite": "silver.orders", "source": "warehouse", "owner": None,
                      "layer": "silver", "data_classes": [],
                      "console_link": f"https://dq.company.com/bypass_requests?request={request_id}"}
    assert "- Table: warehouse: silver.orders (layer silver; data classes: none)" in markdown
    assert f"- Console: <https://dq.company.com/bypass_requests?request={request_id}>" in markdown


@pytest.mark.parametrize(("fixed", "passed", "first_line"), [
    (True, True, "DQ gate restored. Re-run #{run} of silver.orders: PASS."),
    (False, False, "DQ gate restored. Re-run #{run} of silver.orders: FAIL - 1 blocking rule(s):"),
])
def test_restore_reruns_the_suite_and_says_whether_it_passes(
    tmp_path, monkeypatch: pytest.MonkeyPatch, fixed: bool, passed: bool, first_line: str
) -> None:
    warehouse = real_orders_suite(tmp_path, monkeypatch)
    run_suite("silver.orders")  # failing: a bypass needs a blocking failure
    request_id = bypass.create_request(user(ONCALL), checklist("silver.orders"))
    bypass.approve(user(LEAD), request_id)
    if fixed:
        fix_orders(warehouse)

    outcome = bypass_ops.restore(user(ONCALL), request_id, "fix deployed")

    assert (outcome.passed, outcome.request.status) == (passed, "restored")
    assert outcome.lines[0] == first_line.format(run=outcome.run_id)
    verified = bypass.history(request_id)[1][-1]
    assert (verified.action, verified.details["run_id"], verified.details["passed"]) == (
        "bypass.verified", outcome.run_id, passed,
    )
    assert gate_reads.latest_run("silver.orders").run_id == outcome.run_id
