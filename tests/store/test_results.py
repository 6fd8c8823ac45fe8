"""Recording runs: one transaction for run, results and violation episodes."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from types import MappingProxyType

import pytest
import sqlalchemy as sa

import clock
from engine.model import Layer, Rule, Severity, Suite
from engine.results import RuleResult, SuiteReport, Verdict
from store import db, schema
from store.errors import InvalidTransition
from store.results import abort_run, finish_run, start_run

RULE = Rule(name="r", suite="s", check="not_null", params=MappingProxyType({"column": "a"}), severity=Severity.HIGH)
AGG = Rule(name="rc", suite="s", check="row_count", params=MappingProxyType({"min": 100}), severity=Severity.LOW)
SUITE = Suite(name="s", source="warehouse", table="t", schema=None, layer=Layer.SILVER, data_classes=(),
              pii_columns=(), rules=(RULE, AGG))


def report(*results: RuleResult) -> SuiteReport:
    now = clock.utcnow()
    return SuiteReport("s", "warehouse", now - timedelta(seconds=1), now, results, rows_read=10)


def failed(fraction: float, rows: int, sample=({"a": None},)) -> RuleResult:
    return RuleResult("r", "not_null", "HIGH", Verdict.FAILED, "a must not be null", observed_value=fraction,
                      failing_rows=rows, rows_tested=10, fail_level="more than 0 rows", sample=sample)


def record(result_report: SuiteReport):
    with db.write() as conn:
        run_id = start_run(conn, "s", "warehouse", "manual")
        return finish_run(conn, run_id, result_report, SUITE)


def violations() -> list[dict]:
    with db.read() as conn:
        return [dict(r) for r in conn.execute(sa.select(schema.violations).order_by(schema.violations.c.id)).mappings()]


def test_a_failing_episode_opens_extends_and_resolves(store_url: str) -> None:
    first = record(report(failed(0.2, 2)))
    assert (len(first.opened), first.continued) == (1, [])
    second = record(report(failed(0.5, 5, sample=({"a": None}, {"a": None}))))
    third = record(report(failed(0.1, 1)))
    assert second.continued == third.continued == first.opened
    (v,) = violations()
    assert (v["status"], v["occurrences"], v["observed_value"], v["worst_value"], v["failing_rows"]) == ("open", 3, 0.1, 0.5, 1)
    assert (v["first_run_id"], v["last_run_id"]) == (first.run_id, third.run_id)
    passed = record(report(RuleResult("r", "not_null", "HIGH", Verdict.PASSED, "ok", observed_value=0.0, failing_rows=0, rows_tested=10)))
    assert passed.resolved == first.opened
    (v,) = violations()
    assert (v["status"], v["resolved_by"], v["resolution"]) == ("resolved", "auto", "auto")
    assert f"run {passed.run_id}" in v["resolution_note"]
    with db.read() as conn:
        samples = conn.execute(sa.select(schema.violation_samples.c.run_id, schema.violation_samples.c.failing_rows)).all()
    assert [tuple(s) for s in samples] == [(first.run_id, 2), (second.run_id, 5), (third.run_id, 1)]
    again = record(report(failed(0.3, 3)))
    assert len(again.opened) == 1 and again.opened != first.opened


def error(message: str = "source down. Hint: ...") -> RuleResult:
    return RuleResult("r", "not_null", "HIGH", Verdict.ERROR, message)


def test_error_leaves_an_open_violation_alone_and_opens_a_could_not_check_episode(store_url: str) -> None:
    opened = record(report(failed(0.2, 2))).opened
    errored = record(report(error()))
    assert (errored.continued, errored.resolved) == ([], [])
    failure, could_not = violations()
    assert [failure["id"]] == opened and (failure["status"], failure["occurrences"]) == ("open", 1)
    assert [could_not["id"]] == errored.opened
    assert (could_not["verdict"], could_not["status"], could_not["message"]) == ("ERROR", "open", "source down. Hint: ...")


def test_a_could_not_check_episode_extends_then_ends_when_the_rule_runs_again(store_url: str) -> None:
    first = record(report(error("table t does not exist")))
    second = record(report(error("table t still missing")))
    assert second.continued == first.opened
    (v,) = violations()
    assert (v["verdict"], v["occurrences"], v["message"], v["last_run_id"]) == ("ERROR", 2, "table t still missing", second.run_id)
    ran = record(report(failed(0.2, 2)))  # it runs again, and the data is bad: a new FAILED episode
    assert ran.resolved == first.opened and len(ran.opened) == 1
    could_not, failure = violations()
    assert (could_not["status"], could_not["resolved_by"]) == ("resolved", "auto")
    assert f"rule ran again in run {ran.run_id} (FAILED)" in could_not["resolution_note"]
    assert (failure["verdict"], failure["status"]) == ("FAILED", "open")
    skipped = record(report(RuleResult("r", "not_null", "HIGH", Verdict.SKIPPED, "disabled")))
    assert (skipped.opened, skipped.continued, skipped.resolved) == ([], [], [])


def test_worst_value_of_an_aggregate_is_the_farthest_outside_its_bounds(store_url: str) -> None:
    def count(n: float) -> RuleResult:
        return RuleResult("rc", "row_count", "LOW", Verdict.FAILED, "rows", observed_value=n)

    for n in (90, 40, 70):
        record(report(count(n)))
    (v,) = violations()
    assert (v["observed_value"], v["worst_value"]) == (70, 40)


def test_run_row_carries_the_totals(store_url: str) -> None:
    recorded = record(report(failed(0.2, 2), RuleResult("rc", "row_count", "LOW", Verdict.ERROR, "x")))
    with db.read() as conn:
        run = conn.execute(sa.select(schema.runs).where(schema.runs.c.id == recorded.run_id)).mappings().one()
        results = conn.execute(sa.select(schema.results.c.rule_name, schema.results.c.status)).all()
    assert (run["status"], run["rules_total"], run["rules_failed"], run["rules_error"], run["rows_read"]) == ("ERROR", 2, 1, 1, 10)
    assert sorted(tuple(r) for r in results) == [("r", "FAILED"), ("rc", "ERROR")]


def test_abort_marks_only_running_runs(store_url: str) -> None:
    with db.write() as conn:
        run_id = start_run(conn, "s", "warehouse", "schedule")
        abort_run(conn, run_id, "lease expired")
        abort_run(conn, run_id, "again")
    with db.read() as conn:
        row = conn.execute(sa.select(schema.runs.c.status, schema.runs.c.error).where(schema.runs.c.id == run_id)).one()
    assert tuple(row) == ("ABORTED", "lease expired")


def test_nothing_is_half_written(store_url: str) -> None:
    bad = report(failed(0.2, 2), RuleResult("x" * 300, "not_null", "HIGH", Verdict.PASSED, "too long a name"))
    with contextlib.suppress(sa.exc.DBAPIError):  # PostgreSQL refuses the over-long name; SQLite accepts it
        record(bad)
    with db.read() as conn:
        runs = conn.execute(sa.select(sa.func.count()).select_from(schema.runs)).scalar()
        results = conn.execute(sa.select(sa.func.count()).select_from(schema.results)).scalar()
    assert (runs, results) in {(0, 0), (1, 2)}


def test_an_aborted_run_refuses_late_results(store_url: str) -> None:
    with db.write() as conn:
        run_id = start_run(conn, "s", "warehouse", "schedule")
        abort_run(conn, run_id, "lease expired")
    with pytest.raises(InvalidTransition, match=f"run {run_id} of suite 's' is no longer RUNNING"), db.write() as conn:
        finish_run(conn, run_id, report(failed(0.2, 2)), SUITE)
    assert violations() == []
