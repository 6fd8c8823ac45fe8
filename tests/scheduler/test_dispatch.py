"""Claims in the store, in-process: one claim per tick, busy suites skipped, errors recorded."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from ops.cron import DueWork
from scheduler import dispatch
from store import db, scheduling, schema
from store.rules import live_suites
from tests.scheduler.helpers import load_rules

DUE = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _run(run_id: int) -> dict:
    with db.read() as conn:
        return dict(conn.execute(sa.select(schema.runs).where(schema.runs.c.id == run_id)).mappings().one())


def test_a_tick_is_claimed_once_and_the_lease_names_the_run(store_url: str, tmp_path: Path) -> None:
    load_rules(tmp_path / "rules", {"silver_orders": "0 9 * * *"})
    (suite,) = live_suites()
    work = DueWork("silver_orders", DUE, None)
    job = dispatch.claim_due(work, suite, "a", 60)
    assert job is not None and (job.trigger, job.due_at, job.worker) == ("schedule", DUE, "a")
    assert dispatch.claim_due(work, suite, "b", 60) is None  # lease held
    dispatch.finish(job, suite, "a", None)
    assert dispatch.claim_due(work, suite, "b", 60) is None  # lease free, tick already claimed
    with db.read() as conn:
        assert scheduling.last_due_times(conn) == {"silver_orders": DUE}
    assert _run(job.run_id)["status"] == "RUNNING"  # finishing the run itself is run_suite's job


def test_a_crashed_check_is_recorded_as_error_for_each_rule(store_url: str, tmp_path: Path) -> None:
    load_rules(tmp_path / "rules", {"silver_orders": "0 9 * * *"})
    (suite,) = live_suites()
    job = dispatch.claim_due(DueWork("silver_orders", DUE, None), suite, "a", 60)
    dispatch.finish(job, suite, "a", "the check process was killed by signal SIGKILL")
    run = _run(job.run_id)
    assert (run["status"], run["rules_error"], run["error"]) == ("ERROR", 2, "the check process was killed by signal SIGKILL")
    with db.write() as conn:  # the lease was released
        assert scheduling.take_lease(conn, "silver_orders", "b", 60)


def test_requests_for_unknown_suites_or_rules_fail_with_a_reason(store_url: str, tmp_path: Path) -> None:
    load_rules(tmp_path / "rules", {"silver_orders": "0 9 * * *"})
    suites = live_suites()
    with db.write() as conn:
        gone = scheduling.enqueue_request(conn, "gold.gone", rule_name=None, requested_by="ann", origin="cli")
        renamed = scheduling.enqueue_request(conn, "silver_orders", rule_name="renamed_rule", requested_by="ann", origin="cli")
    job = dispatch.claim_request(suites, "a", 60, busy=set())
    assert (job.request_id, job.rule_names) == (renamed, ("renamed_rule",))
    dispatch.finish(job, suites[0], "a", "rule(s) renamed_rule not in suite 'silver_orders'")
    with db.read() as conn:
        assert scheduling.request(conn, gone).status == "failed"
        assert scheduling.request(conn, renamed).status == "failed"
        error = conn.execute(sa.select(schema.run_requests.c.error).where(schema.run_requests.c.id == gone)).scalar_one()
    assert "suite 'gold.gone' is not loaded" in error and "Hint:" in error
    assert _run(job.run_id)["status"] == "ERROR"


def test_a_busy_suite_keeps_its_request_waiting(store_url: str, tmp_path: Path) -> None:
    load_rules(tmp_path / "rules", {"silver_orders": "0 9 * * *"})
    suites = live_suites()
    with db.write() as conn:
        scheduling.enqueue_request(conn, "silver_orders", rule_name=None, requested_by="ann", origin="console")
    assert dispatch.claim_request(suites, "a", 60, busy={"silver_orders"}) is None
    with db.read() as conn:
        assert len(scheduling.pending_requests(conn)) == 1


def test_requests_behind_many_for_a_busy_suite_are_reached(store_url: str, tmp_path: Path) -> None:
    load_rules(tmp_path / "rules", {"silver_orders": "0 9 * * *", "gold_orders": "0 9 * * *"})
    suites = live_suites()
    with db.write() as conn:
        for n in range(25):  # distinct rules of the busy suite: they do not coalesce
            scheduling.enqueue_request(conn, "silver_orders", rule_name="silver_orders_id_not_null" if n % 2 else None,
                                       requested_by="ann", origin="console")
        behind = scheduling.enqueue_request(conn, "gold_orders", rule_name=None, requested_by="bob", origin="console")
    job = dispatch.claim_request(suites, "a", 60, busy={"silver_orders"})
    assert job is not None and job.request_id == behind
