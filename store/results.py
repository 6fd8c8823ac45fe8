"""Recording runs: the run row, one result per rule, and violation episodes, in one transaction.

A violation is one failing episode of one rule: opened by the first FAILED result, extended
(last seen, occurrences, worst value, newest failing-row sample) while the rule keeps failing,
and resolved automatically by the next PASSED or WARNED result. ERROR results (the check could
not run) leave an open FAILED violation as it is: nobody knows whether the data got better.

An ERROR result opens an episode of its own, a violation with verdict ERROR ("could not check"),
so it is alerted, acknowledged and escalated like any other; it is extended while the rule keeps
erroring and resolved automatically as soon as the rule runs again (PASSED, WARNED or FAILED).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

import clock
from engine.model import Rule, Suite
from engine.results import RuleResult, SuiteReport, Verdict
from store import audit
from store.errors import InvalidTransition, NotFound
from store.fencing import Lease, check_lease, db_now
from store.schema import UTCDateTime, results, rules, runs, suites, violation_samples, violations

OPEN_STATES = ("open", "acknowledged")
ERROR_EPISODE = "ERROR"  # violations.verdict of a "could not check" episode; data failures are FAILED
# The rule ran: a could-not-check episode ends (NOT_ENOUGH_HISTORY ran too, yet resolves no failure).
RAN = (Verdict.PASSED, Verdict.WARNED, Verdict.FAILED, Verdict.NOT_ENOUGH_HISTORY)
# A run still RUNNING this long after its timeout is taken for dead wherever its owner ran.
DEADLINE_GRACE_SECONDS = 60.0


@dataclass(frozen=True)
class RecordedRun:
    run_id: int
    opened: list[int] = field(default_factory=list)
    continued: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)


def start_run(conn: Connection, suite_name: str, source: str, trigger: str, *, due_at: datetime | None = None,
              requested_by: str | None = None, worker: str | None = None, timeout_seconds: float | None = None,
              merged_ticks: int = 0, first_due_at: datetime | None = None) -> int:
    """Insert a RUNNING run row owned by this process (host and pid).

    A crash leaves it RUNNING; whichever process next finds the owner gone, or the deadline
    (timeout plus a grace, by the database clock) passed, marks it ABORTED.
    """
    deadline = None
    if timeout_seconds is not None:
        deadline = db_now(conn) + timedelta(seconds=timeout_seconds + DEADLINE_GRACE_SECONDS)
    return int(conn.execute(runs.insert().values(
        suite=suite_name, source=source, trigger=trigger, status="RUNNING", started_at=clock.utcnow(),
        due_at=due_at, requested_by=requested_by, worker=worker, owner_host=socket.gethostname(),
        owner_pid=os.getpid(), deadline_at=deadline, merged_ticks=merged_ticks, first_due_at=first_due_at,
    ).returning(runs.c.id)).scalar_one())


def abort_run(conn: Connection, run_id: int, reason: str) -> None:
    now = clock.utcnow()
    row = conn.execute(sa.select(runs.c.started_at).where(runs.c.id == run_id)).first()
    if row is None:
        raise NotFound(f"run {run_id} does not exist. Hint: list runs with `python manage.py export_dq_data runs -`.")
    conn.execute(runs.update().where(runs.c.id == run_id, runs.c.status == "RUNNING").values(
        status="ABORTED", finished_at=now, error=reason,
        duration_ms=(now - row.started_at).total_seconds() * 1000,
    ))


def finish_run(conn: Connection, run_id: int, report: SuiteReport, suite: Suite,
               lease: Lease | None = None) -> RecordedRun:
    """Write results and violation episodes for `report` and close the run.

    Only a RUNNING run can be finished: a run already marked ABORTED (its lease expired and
    another scheduler took the suite over) refuses late results instead of being overwritten.
    A run claimed under a lease is finished only while that lease generation is current
    (FenceLost otherwise), so a paused scheduler's child cannot write over its successor.
    """
    if lease is not None:
        check_lease(conn, lease)
    closed = conn.execute(runs.update().where(runs.c.id == run_id, runs.c.status == "RUNNING").values(
        status=report.status.value, finished_at=report.finished_at, duration_ms=report.duration_ms,
        rows_read=report.rows_read, rules_total=len(report.results),
        rules_failed=report.count(Verdict.FAILED), rules_error=report.count(Verdict.ERROR), error=report.error,
    ))
    if closed.rowcount != 1:
        raise InvalidTransition(
            f"run {run_id} of suite {report.suite!r} is no longer RUNNING (aborted or unknown); its late "
            "results are discarded. Hint: the suite runs again under a new run; see the Runs page."
        )
    ids = _rule_ids(conn, [r.rule_name for r in report.results])
    if report.results:
        rows = [_result_row(run_id, report, r, ids.get(r.rule_name)) for r in report.results]
        conn.execute(results.insert(), [{**row, "signature": audit.sign_result(row)} for row in rows])
    recorded = RecordedRun(run_id)
    rules = {r.name: r for r in suite.rules}
    for result in report.results:
        if result.status is Verdict.ERROR:
            _record_error(conn, run_id, report, suite, result, recorded)
            continue
        if result.status in RAN:
            _resolve_if_open(conn, run_id, report, result, recorded, verdict=ERROR_EPISODE)
        if result.status is Verdict.FAILED:
            _record_failure(conn, run_id, report, suite, rules.get(result.rule_name), result, recorded)
        elif result.status in (Verdict.PASSED, Verdict.WARNED):
            _resolve_if_open(conn, run_id, report, result, recorded)
    return recorded


def _rule_ids(conn: Connection, names: list[str]) -> dict[str, int]:
    """rules.id by name, written with every result and violation (a rename keeps the id)."""
    if not names:
        return {}
    return {row.name: row.id for row in conn.execute(sa.select(rules.c.name, rules.c.id).where(rules.c.name.in_(names)))}


def rule_ids(conn: Connection, names: list[str]) -> dict[str, int]:
    """rules.id by name (metric history is kept per rule id, so it survives a rename)."""
    return _rule_ids(conn, names)


def _rule_id(conn: Connection, name: str) -> int | None:
    return _rule_ids(conn, [name]).get(name)


def _result_row(run_id: int, report: SuiteReport, r: RuleResult, rule_id: int | None) -> dict[str, Any]:
    return {
        "run_id": run_id, "rule_name": r.rule_name, "rule_id": rule_id, "suite": report.suite, "check_type": r.check_type,
        "severity": r.severity, "status": r.status.value, "observed_value": _finite(r.observed_value),
        "observed_text": r.observed_text, "warn_level": r.warn_level, "fail_level": r.fail_level,
        "failing_rows": r.failing_rows, "rows_tested": r.rows_tested, "metrics": dict(r.metrics),
        "message": r.message, "duration_ms": r.duration_ms, "finished_at": report.finished_at,
    }


def _finite(value: float | None) -> float | None:
    # NaN and infinities do not survive every backend; they are kept in observed_text instead.
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return None
    return value


def _badness(value: float | None, rule: Rule | None) -> float:
    """How bad an observed value is, to keep the worst one of an episode.

    Bounded aggregates (row_count, aggregate): the distance outside [min, max]. Everything else
    (failing fraction, null rate, age): the value itself, larger is worse.
    """
    value = _finite(value)
    if value is None:
        return float("-inf")
    if rule is not None and rule.check in ("row_count", "aggregate"):
        low, high = rule.param("min"), rule.param("max")
        if isinstance(low, int | float) and value < low:
            return float(low - value)
        if isinstance(high, int | float) and value > high:
            return float(value - high)
        return 0.0
    return value


def _open_violation(conn: Connection, rule_name: str, verdict: str = "FAILED") -> Any:
    """The rule's open episode of one kind: a data failure (FAILED) or could-not-check (ERROR)."""
    kind = violations.c.verdict == ERROR_EPISODE if verdict == ERROR_EPISODE else violations.c.verdict != ERROR_EPISODE
    return conn.execute(
        sa.select(violations).where(violations.c.rule_name == rule_name, violations.c.status.in_(OPEN_STATES), kind)
        .order_by(violations.c.id.desc()).limit(1)
    ).mappings().first()


def _record_error(conn: Connection, run_id: int, report: SuiteReport, suite: Suite, result: RuleResult,
                  recorded: RecordedRun) -> None:
    """Open or extend the rule's could-not-check episode (the error text is its message)."""
    now = report.finished_at
    current = _open_violation(conn, result.rule_name, ERROR_EPISODE)
    if current is None:
        violation_id = int(conn.execute(violations.insert().values(
            rule_name=result.rule_name, rule_id=_rule_id(conn, result.rule_name), suite=suite.name,
            source=suite.source, check_type=result.check_type, severity=result.severity, status="open",
            verdict=ERROR_EPISODE, detected_at=now,
            last_seen_at=now, occurrences=1, first_run_id=run_id, last_run_id=run_id,
            message=result.message, acknowledged=False,
        ).returning(violations.c.id)).scalar_one())
        recorded.opened.append(violation_id)
        audit.record(conn, "system", "violation.opened", "violation", violation_id,
                     rule=result.rule_name, run_id=run_id, verdict=ERROR_EPISODE, message=result.message)
        return
    conn.execute(violations.update().where(violations.c.id == current["id"]).values(
        last_seen_at=now, occurrences=current["occurrences"] + 1, last_run_id=run_id,
        message=result.message, severity=result.severity,
    ))
    recorded.continued.append(int(current["id"]))


def _record_failure(conn: Connection, run_id: int, report: SuiteReport, suite: Suite, rule: Rule | None,
                    result: RuleResult, recorded: RecordedRun) -> None:
    now = report.finished_at
    observed = _finite(result.observed_value)
    current = _open_violation(conn, result.rule_name)
    threshold = result.fail_level
    if current is None:
        violation_id = int(conn.execute(violations.insert().values(
            rule_name=result.rule_name, rule_id=_rule_id(conn, result.rule_name), suite=suite.name,
            source=suite.source, check_type=result.check_type,
            severity=result.severity, status="open", verdict=result.status.value, detected_at=now,
            last_seen_at=now, occurrences=1, first_run_id=run_id, last_run_id=run_id,
            observed_value=observed, worst_value=observed, threshold=threshold,
            failing_rows=result.failing_rows, message=result.message, sample=list(result.sample) or None,
            acknowledged=False,
        ).returning(violations.c.id)).scalar_one())
        recorded.opened.append(violation_id)
        audit.record(conn, "system", "violation.opened", "violation", violation_id,
                     rule=result.rule_name, run_id=run_id, message=result.message)
    else:
        violation_id = int(current["id"])
        worse = _badness(observed, rule) >= _badness(current["worst_value"], rule)
        conn.execute(violations.update().where(violations.c.id == violation_id).values(
            last_seen_at=now, occurrences=current["occurrences"] + 1, last_run_id=run_id,
            observed_value=observed, worst_value=observed if worse else current["worst_value"],
            failing_rows=result.failing_rows, message=result.message, threshold=threshold,
            severity=result.severity, sample=list(result.sample) or current["sample"],
        ))
        recorded.continued.append(violation_id)
    if result.sample:
        conn.execute(violation_samples.insert().values(
            violation_id=violation_id, run_id=run_id, captured_at=now, failing_rows=result.failing_rows,
            rows=list(result.sample),
        ))


def _resolve_if_open(conn: Connection, run_id: int, report: SuiteReport, result: RuleResult,
                     recorded: RecordedRun, verdict: str = "FAILED") -> None:
    current = _open_violation(conn, result.rule_name, verdict)
    if current is None:
        return
    if verdict == ERROR_EPISODE:
        note = f"rule ran again in run {run_id} ({result.status.value}): {result.message}"
    else:
        note = f"rule {result.status.value} again in run {run_id}: {result.message}"
    conn.execute(violations.update().where(violations.c.id == current["id"]).values(
        status="resolved", resolved_at=report.finished_at, resolved_by="auto", resolution="auto",
        resolution_note=note,
    ))
    recorded.resolved.append(int(current["id"]))
    audit.record(conn, "system", "violation.resolved", "violation", current["id"], resolution="auto", run_id=run_id)


# --- what the health check reads ---------------------------------------------------------------

# A run that evaluated something: finished, and not every rule ERROR (a source that is down evaluates nothing).
_COMPLETE = sa.or_(
    runs.c.status.in_(("PASSED", "WARNED", "FAILED")),
    sa.and_(runs.c.status == "ERROR", runs.c.rules_error < runs.c.rules_total),
)


@dataclass(frozen=True)
class ErroredRule:
    """An enabled rule whose newest result is ERROR: it could not be checked."""

    rule: str
    suite: str
    severity: str  # the rule's current severity
    reason: str
    run_id: int
    finished_at: datetime


@dataclass(frozen=True)
class SuiteEvaluation:
    """When an enabled suite was loaded and last completely evaluated (None: never)."""

    suite: str
    loaded_at: datetime | None
    last_complete_at: datetime | None


def errored_rules(conn: Connection, severities: tuple[str, ...]) -> list[ErroredRule]:
    """Enabled rules of enabled suites, of these severities, whose newest result is ERROR.

    One indexed look-up per rule (ix_results_rule_finished), not a scan of the results.
    """
    newest = (
        sa.select(results.c.id).where(results.c.rule_name == rules.c.name)
        .order_by(results.c.finished_at.desc(), results.c.id.desc()).limit(1)
        .correlate(rules).scalar_subquery()
    )
    query = (
        sa.select(rules.c.name, rules.c.suite, rules.c.severity, results.c.message, results.c.run_id,
                  results.c.finished_at)
        .select_from(rules.join(suites, suites.c.name == rules.c.suite).join(results, results.c.id == newest))
        .where(rules.c.enabled.is_(True), rules.c.status == "active", suites.c.enabled.is_(True),
               rules.c.severity.in_(severities), results.c.status == "ERROR")
        .order_by(rules.c.suite, rules.c.name)
    )
    return [ErroredRule(r.name, r.suite, r.severity, r.message or "no message recorded", r.run_id, r.finished_at)
            for r in conn.execute(query)]


def suite_evaluations(conn: Connection) -> dict[str, SuiteEvaluation]:
    """For every enabled suite: when its live rules were first loaded, and its newest complete run."""
    last = (
        sa.select(runs.c.finished_at).where(runs.c.suite == suites.c.name, _COMPLETE, runs.c.finished_at.is_not(None))
        .order_by(runs.c.started_at.desc()).limit(1)
        .correlate(suites).scalar_subquery()
    )
    loaded = (
        sa.select(sa.func.min(rules.c.created_at)).where(rules.c.suite == suites.c.name, rules.c.status == "active")
        .correlate(suites).scalar_subquery()
    )
    query = sa.select(suites.c.name, loaded.label("loaded_at"), last.label("last_complete_at")).where(
        suites.c.enabled.is_(True)
    )
    return {
        row.name: SuiteEvaluation(row.name, _aware(row.loaded_at), _aware(row.last_complete_at))
        for row in conn.execute(query)
    }


def _aware(value: Any) -> datetime | None:
    """Scalar subqueries lose the UTCDateTime type: read them back as aware UTC."""
    return UTCDateTime().process_result_value(value, None)
