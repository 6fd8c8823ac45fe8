"""Store reads for monitoring: a recorded run read back as a report, and the numbers behind the
store-derived Prometheus gauges (per rule and per severity). Cheap by construction: one
index seek per rule (ix_results_rule_finished), never a scan of the results history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.model import Severity
from engine.results import RuleResult, SuiteReport, Verdict
from store.results import OPEN_STATES
from store.schema import results, rules, runs, violations

EVALUATED = (Verdict.PASSED.value, Verdict.WARNED.value, Verdict.FAILED.value, Verdict.NOT_ENOUGH_HISTORY.value)


@dataclass(frozen=True)
class StoredRun:
    run_id: int
    trigger: str
    status: str
    report: SuiteReport


def stored_run(conn: Connection, run_id: int) -> StoredRun | None:
    """A finished run and its results as the SuiteReport that recorded them; None while RUNNING or unknown."""
    run = conn.execute(sa.select(runs).where(runs.c.id == run_id)).first()
    if run is None or run.status == "RUNNING" or run.finished_at is None:
        return None
    rows = conn.execute(sa.select(results).where(results.c.run_id == run_id).order_by(results.c.id)).all()
    report = SuiteReport(
        suite=run.suite, source=run.source, started_at=run.started_at, finished_at=run.finished_at,
        results=tuple(RuleResult(
            rule_name=r.rule_name, check_type=r.check_type, severity=r.severity, status=Verdict(r.status),
            message=r.message or "", observed_value=r.observed_value, observed_text=r.observed_text,
            warn_level=r.warn_level, fail_level=r.fail_level, failing_rows=r.failing_rows,
            rows_tested=r.rows_tested, metrics=r.metrics or {}, duration_ms=r.duration_ms or 0.0,
        ) for r in rows),
        rows_read=run.rows_read, error=run.error,
    )
    return StoredRun(run.id, run.trigger, run.status, report)


@dataclass(frozen=True)
class RuleState:
    rule: str
    suite: str
    source: str
    severity: str
    verdict: str | None  # latest result; None = never run
    failing_rows: int | None
    observed_value: float | None
    last_result_at: datetime | None
    last_evaluated_at: datetime | None  # latest PASSED, WARNED or FAILED: the check could run


def rule_states(conn: Connection) -> list[RuleState]:
    """Every active rule with its latest result and when it was last evaluated."""
    r, res = rules.c, results.c
    latest_id = (sa.select(res.id).where(res.rule_name == r.name)
                 .order_by(res.finished_at.desc(), res.id.desc()).limit(1).scalar_subquery())
    evaluated = (sa.select(sa.func.max(res.finished_at))
                 .where(res.rule_name == r.name, res.status.in_(EVALUATED)).scalar_subquery())
    latest = results.alias("latest")
    stmt = (
        sa.select(r.name, r.suite, r.source, r.severity, latest.c.status, latest.c.failing_rows,
                  latest.c.observed_value, latest.c.finished_at, evaluated.label("evaluated_at"))
        .select_from(rules.outerjoin(latest, latest.c.id == latest_id))
        .where(r.status == "active")
        .order_by(r.suite, r.name)
    )
    return [RuleState(row.name, row.suite, row.source, row.severity, row.status, row.failing_rows,
                      row.observed_value, row.finished_at, row.evaluated_at) for row in conn.execute(stmt)]


@dataclass(frozen=True)
class SeverityCounts:
    open: int = 0  # violations not resolved (open or acknowledged)
    unacknowledged: int = 0  # violations open and not acknowledged
    error_rules: int = 0  # active rules whose latest result is ERROR


def severity_counts(conn: Connection, states: list[RuleState]) -> dict[str, SeverityCounts]:
    """Per severity, every severity present (zero when none): alerts compare numbers, not absences."""
    v = violations.c
    stmt = (sa.select(v.severity, v.status, sa.func.count()).where(v.status.in_(OPEN_STATES))
            .group_by(v.severity, v.status))
    opened: dict[str, int] = {}
    unacked: dict[str, int] = {}
    for severity, status, count in conn.execute(stmt):
        opened[severity] = opened.get(severity, 0) + count
        if status == "open":
            unacked[severity] = unacked.get(severity, 0) + count
    errors: dict[str, int] = {}
    for state in states:
        if state.verdict == Verdict.ERROR.value:
            errors[state.severity] = errors.get(state.severity, 0) + 1
    return {s.value: SeverityCounts(opened.get(s.value, 0), unacked.get(s.value, 0), errors.get(s.value, 0))
            for s in Severity}
