"""Read queries behind the console and the reports: each returns a Polars frame or a small value.

Aggregation happens in the database (GROUP BY, COUNT) or in Polars, never row by row in
Python; list queries are bounded by a limit and served by the indexes in store/schema.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Engine

import clock
from store import db, migrations
from store.alerts import status_counts as alert_counts
from store.errors import NotFound, SchemaOutOfDate, StoreUnreachable
from store.frames import UTC_TIME, frame, scalar
from store.schema import (
    results,
    rules,
    run_requests,
    runs,
    scheduler_heartbeats,
    suites,
    violation_samples,
    violations,
)

UNRESOLVED = ("open", "acknowledged")
SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO")


# --- store and scheduler status ------------------------------------------------------------


@dataclass(frozen=True)
class StoreStatus:
    ok: bool
    url: str  # password hidden
    message: str  # what is wrong, ending with a Hint; "" when ok


def store_status(engine: Engine | None = None) -> StoreStatus:
    """Whether the store answers and is migrated; never raises for an unreachable store."""
    engine = engine or db.get_engine()
    url = engine.url.render_as_string(hide_password=True)
    try:
        migrations.require_current(engine)
    except SchemaOutOfDate as exc:
        return StoreStatus(False, url, str(exc))
    except (sa.exc.OperationalError, sa.exc.InterfaceError, StoreUnreachable) as exc:
        detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        message = (
            f"the store at {url} cannot be reached: {detail}. "
            "Hint: check DQ_STORE_URL and that the database server is running."
        )
        return StoreStatus(False, url, message)
    return StoreStatus(True, url, "")


HEARTBEAT_SCHEMA = {
    "scheduler_id": pl.Utf8, "host": pl.Utf8, "pid": pl.Int64, "started_at": UTC_TIME,
    "beat_at": UTC_TIME, "status": pl.Utf8, "current_suite": pl.Utf8,
}


def heartbeats(engine: Engine | None = None, now: datetime | None = None) -> pl.DataFrame:
    """Every scheduler's latest heartbeat, newest first, with its age in seconds."""
    t = scheduler_heartbeats
    stmt = sa.select(
        t.c.scheduler_id, t.c.host, t.c.pid, t.c.started_at, t.c.beat_at, t.c.status, t.c.current_suite
    ).order_by(t.c.beat_at.desc())
    with db.read(engine) as conn:
        df = frame(conn, stmt, HEARTBEAT_SCHEMA)
    now = now or clock.utcnow()
    return df.with_columns(age_seconds=(pl.lit(now, UTC_TIME) - pl.col("beat_at")).dt.total_seconds())


def queue_length(engine: Engine | None = None) -> int:
    """Run requests waiting for a scheduler (status pending)."""
    stmt = sa.select(sa.func.count()).select_from(run_requests).where(run_requests.c.status == "pending")
    with db.read(engine) as conn:
        return scalar(conn, stmt)


# --- filter choices ------------------------------------------------------------------------


@dataclass(frozen=True)
class FilterOptions:
    suites: tuple[str, ...]
    sources: tuple[str, ...]
    rules: tuple[str, ...]


def filter_options(engine: Engine | None = None) -> FilterOptions:
    """The suites, sources and rules the store knows (from the rules table, not the violations)."""
    with db.read(engine) as conn:
        rows = conn.execute(sa.select(rules.c.suite, rules.c.source, rules.c.name)).all()
    return FilterOptions(
        suites=tuple(sorted({r.suite for r in rows})),
        sources=tuple(sorted({r.source for r in rows})),
        rules=tuple(sorted({r.name for r in rows})),
    )


# --- violations ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ViolationFilter:
    """What the Violations page asks for; empty tuples mean "any"."""

    severities: tuple[str, ...] = ()
    suites: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    statuses: tuple[str, ...] = UNRESOLVED
    acknowledged: bool | None = None
    detected_since: datetime | None = None
    detected_until: datetime | None = None
    violation_id: int | None = None
    limit: int = 500


def _violation_where(f: ViolationFilter) -> list[sa.ColumnElement[bool]]:
    v = violations.c
    clauses: list[sa.ColumnElement[bool]] = []
    pairs: tuple[tuple[Any, tuple[str, ...]], ...] = (
        (v.severity, f.severities), (v.suite, f.suites), (v.source, f.sources),
        (v.rule_name, f.rules), (v.status, f.statuses),
    )
    for column, chosen in pairs:
        if chosen:
            clauses.append(column.in_(chosen))
    if f.acknowledged is not None:
        clauses.append(v.acknowledged.is_(f.acknowledged))
    if f.detected_since is not None:
        clauses.append(v.detected_at >= f.detected_since)
    if f.detected_until is not None:
        clauses.append(v.detected_at < f.detected_until)
    if f.violation_id is not None:
        clauses.append(v.id == f.violation_id)
    return clauses


VIOLATION_SCHEMA = {
    "id": pl.Int64, "severity": pl.Utf8, "status": pl.Utf8, "rule_name": pl.Utf8, "suite": pl.Utf8,
    "source": pl.Utf8, "check_type": pl.Utf8, "verdict": pl.Utf8, "detected_at": UTC_TIME,
    "last_seen_at": UTC_TIME, "occurrences": pl.Int64, "observed_value": pl.Float64,
    "worst_value": pl.Float64, "threshold": pl.Utf8, "failing_rows": pl.Int64, "message": pl.Utf8,
    "acknowledged": pl.Boolean, "acknowledged_by": pl.Utf8, "acknowledged_at": UTC_TIME,
    "ack_note": pl.Utf8, "snoozed_until": UTC_TIME, "resolved_at": UTC_TIME, "resolved_by": pl.Utf8,
    "resolution": pl.Utf8, "resolution_note": pl.Utf8, "first_run_id": pl.Int64, "last_run_id": pl.Int64,
}


def _violation_columns() -> list[sa.ColumnElement[Any]]:
    return [violations.c[name] for name in VIOLATION_SCHEMA]


def _rank(column: sa.ColumnElement[str], order: tuple[str, ...]) -> sa.ColumnElement[int]:
    return sa.case({value: i for i, value in enumerate(order)}, value=column, else_=len(order))


def violations_list(f: ViolationFilter, engine: Engine | None = None) -> pl.DataFrame:
    """Violations matching `f` (at most f.limit) in triage order: open, then acknowledged, then resolved;
    within each the most severe first, then the newest."""
    v = violations.c
    stmt = (
        sa.select(*_violation_columns())
        .where(*_violation_where(f))
        .order_by(_rank(v.status, ("open", "acknowledged", "resolved")), _rank(v.severity, SEVERITIES),
                  v.detected_at.desc(), v.id.desc())
        .limit(f.limit)
    )
    with db.read(engine) as conn:
        return frame(conn, stmt, VIOLATION_SCHEMA)


def violations_count(f: ViolationFilter, engine: Engine | None = None) -> int:
    stmt = sa.select(sa.func.count()).select_from(violations).where(*_violation_where(f))
    with db.read(engine) as conn:
        return scalar(conn, stmt)


def violation(violation_id: int, engine: Engine | None = None) -> pl.DataFrame:
    """One violation as a one-row frame; NotFound when there is none."""
    df = violations_list(ViolationFilter(statuses=(), violation_id=violation_id, limit=1), engine)
    if df.is_empty():
        raise NotFound(
            f"violation #{violation_id} does not exist. "
            "Hint: it may have been archived by cleanup; search by rule instead."
        )
    return df


def failing_rows(violation_id: int, engine: Engine | None = None) -> pl.DataFrame:
    """The newest failing-row sample of a violation (PII already masked), as a frame."""
    s = violation_samples.c
    newest = (
        sa.select(s.rows)
        .where(s.violation_id == violation_id)
        .order_by(s.captured_at.desc(), s.id.desc())
        .limit(1)
    )
    with db.read(engine) as conn:
        rows = conn.execute(newest).scalar()
        if rows is None:
            rows = conn.execute(sa.select(violations.c.sample).where(violations.c.id == violation_id)).scalar()
    if not rows:
        return pl.DataFrame()
    # Sample values are JSON scalars of mixed types; show them as text rather than guess a dtype.
    return pl.DataFrame(
        [{k: None if v is None else str(v) for k, v in row.items()} for row in rows],
        infer_schema_length=None,
    )


# --- rules and history ---------------------------------------------------------------------

HISTORY_SCHEMA = {
    "finished_at": UTC_TIME, "status": pl.Utf8, "observed_value": pl.Float64,
    "failing_rows": pl.Int64, "rows_tested": pl.Int64, "run_id": pl.Int64, "message": pl.Utf8,
}


def rule_history(
    rule_name: str, days: int = 30, engine: Engine | None = None, now: datetime | None = None
) -> pl.DataFrame:
    """A rule's results over the last `days` days, oldest first (for the pass/fail chart)."""
    r = results.c
    since = (now or clock.utcnow()) - timedelta(days=days)
    stmt = (
        sa.select(r.finished_at, r.status, r.observed_value, r.failing_rows, r.rows_tested, r.run_id, r.message)
        .where(r.rule_name == rule_name, r.finished_at >= since)
        .order_by(r.finished_at)
        .limit(5000)
    )
    with db.read(engine) as conn:
        return frame(conn, stmt, HISTORY_SCHEMA)


RULE_SCHEMA = {
    "name": pl.Utf8, "suite": pl.Utf8, "source": pl.Utf8, "table_name": pl.Utf8, "check_type": pl.Utf8,
    "severity": pl.Utf8, "enabled": pl.Boolean, "status": pl.Utf8, "status_reason": pl.Utf8,
    "schedule": pl.Utf8, "use_sampling": pl.Boolean, "sample_size": pl.Int64, "owner": pl.Utf8,
    "description": pl.Utf8, "file": pl.Utf8, "line": pl.Int64, "version": pl.Int64, "updated_at": UTC_TIME,
}


def rules_list(engine: Engine | None = None) -> pl.DataFrame:
    """Every rule the store knows with its lifecycle status, by suite and name."""
    stmt = sa.select(*[rules.c[n] for n in RULE_SCHEMA]).order_by(rules.c.suite, rules.c.name)
    with db.read(engine) as conn:
        return frame(conn, stmt, RULE_SCHEMA)


LAST_RESULT_SCHEMA = {"rule_name": pl.Utf8, "last_status": pl.Utf8, "last_checked_at": UTC_TIME}


def last_results(days: int = 7, engine: Engine | None = None, now: datetime | None = None) -> pl.DataFrame:
    """Each rule's newest result within `days` days (one row per rule that ran)."""
    r = results.c
    since = (now or clock.utcnow()) - timedelta(days=days)
    newest = (
        sa.select(sa.func.max(r.id).label("id")).where(r.finished_at >= since).group_by(r.rule_name).subquery()
    )
    stmt = sa.select(r.rule_name, r.status, r.finished_at).join(newest, newest.c.id == r.id)
    with db.read(engine) as conn:
        return frame(conn, stmt, LAST_RESULT_SCHEMA)


OPEN_BY_RULE_SCHEMA = {"rule_name": pl.Utf8, "open_violations": pl.Int64}


def open_violations_by_rule(engine: Engine | None = None) -> pl.DataFrame:
    v = violations.c
    stmt = sa.select(v.rule_name, sa.func.count()).where(v.status.in_(UNRESOLVED)).group_by(v.rule_name)
    with db.read(engine) as conn:
        return frame(conn, stmt, OPEN_BY_RULE_SCHEMA)


def rules_overview(engine: Engine | None = None, now: datetime | None = None) -> pl.DataFrame:
    """Rules with lifecycle status, newest verdict (last 7 days) and open violations."""
    return (
        rules_list(engine)
        .join(last_results(7, engine, now), left_on="name", right_on="rule_name", how="left")
        .join(open_violations_by_rule(engine), left_on="name", right_on="rule_name", how="left")
        .with_columns(pl.col("open_violations").fill_null(0))
    )


# --- runs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunFilter:
    suites: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    started_since: datetime | None = None
    run_id: int | None = None
    limit: int = 200


RUN_SCHEMA = {
    "id": pl.Int64, "suite": pl.Utf8, "source": pl.Utf8, "trigger": pl.Utf8, "status": pl.Utf8,
    "started_at": UTC_TIME, "finished_at": UTC_TIME, "duration_ms": pl.Float64, "rows_read": pl.Int64,
    "rules_total": pl.Int64, "rules_failed": pl.Int64, "rules_error": pl.Int64,
    "requested_by": pl.Utf8, "worker": pl.Utf8, "error": pl.Utf8,
}


def runs_list(f: RunFilter, engine: Engine | None = None) -> pl.DataFrame:
    """The newest runs matching `f`, newest first."""
    c = runs.c
    clauses: list[sa.ColumnElement[bool]] = []
    if f.suites:
        clauses.append(c.suite.in_(f.suites))
    if f.statuses:
        clauses.append(c.status.in_(f.statuses))
    if f.started_since is not None:
        clauses.append(c.started_at >= f.started_since)
    if f.run_id is not None:
        clauses.append(c.id == f.run_id)
    stmt = (
        sa.select(*[c[n] for n in RUN_SCHEMA]).where(*clauses)
        .order_by(c.started_at.desc(), c.id.desc()).limit(f.limit)
    )
    with db.read(engine) as conn:
        return frame(conn, stmt, RUN_SCHEMA)


RESULT_SCHEMA = {
    "rule_name": pl.Utf8, "severity": pl.Utf8, "status": pl.Utf8, "observed_value": pl.Float64,
    "observed_text": pl.Utf8, "fail_level": pl.Utf8, "failing_rows": pl.Int64, "rows_tested": pl.Int64,
    "duration_ms": pl.Float64, "message": pl.Utf8,
}


def run_results(run_id: int, engine: Engine | None = None) -> pl.DataFrame:
    """The per-rule results of one run."""
    c = results.c
    stmt = sa.select(*[c[n] for n in RESULT_SCHEMA]).where(c.run_id == run_id).order_by(c.rule_name)
    with db.read(engine) as conn:
        return frame(conn, stmt, RESULT_SCHEMA)


RUN_REQUEST_SCHEMA = {
    "id": pl.Int64, "suite": pl.Utf8, "rule_name": pl.Utf8, "requested_by": pl.Utf8,
    "requested_at": UTC_TIME, "origin": pl.Utf8, "status": pl.Utf8, "run_id": pl.Int64, "error": pl.Utf8,
}


def recent_run_requests(limit: int = 50, engine: Engine | None = None) -> pl.DataFrame:
    c = run_requests.c
    stmt = sa.select(*[c[n] for n in RUN_REQUEST_SCHEMA]).order_by(c.requested_at.desc(), c.id.desc()).limit(limit)
    with db.read(engine) as conn:
        return frame(conn, stmt, RUN_REQUEST_SCHEMA)


# --- one rule, one table ---------------------------------------------------------------------


def rule_detail(name: str, engine: Engine | None = None) -> dict[str, Any]:
    """One rule's row (definition as written, lifecycle, schedule, owner); NotFound when unknown."""
    with db.read(engine) as conn:
        row = conn.execute(sa.select(rules).where(rules.c.name == name)).mappings().first()
    if row is None:
        raise NotFound(f"rule {name!r} is not in the store. "
                       "Hint: check the name on the Rules page, or load it with `python manage.py load_dq_rules rules/`.")
    return dict(row)


RULE_RESULT_SCHEMA = {
    "finished_at": UTC_TIME, "status": pl.Utf8, "observed_value": pl.Float64, "failing_rows": pl.Int64,
    "rows_tested": pl.Int64, "fail_level": pl.Utf8, "check_type": pl.Utf8, "run_id": pl.Int64, "message": pl.Utf8,
}


def rule_results(name: str, days: int = 30, engine: Engine | None = None, now: datetime | None = None,
                 limit: int = 2000) -> pl.DataFrame:
    """A rule's newest results over `days` days, oldest first, with what it observed and its fail level."""
    r = results.c
    since = (now or clock.utcnow()) - timedelta(days=days)
    newest = (
        sa.select(*[r[c] for c in RULE_RESULT_SCHEMA])
        .where(r.rule_name == name, r.finished_at >= since)
        .order_by(r.finished_at.desc()).limit(limit)
    )
    with db.read(engine) as conn:
        return frame(conn, newest, RULE_RESULT_SCHEMA).reverse()


RULE_EVENT_SCHEMA = {"id": pl.Int64, "status": pl.Utf8, "detected_at": UTC_TIME, "acknowledged_at": UTC_TIME,
                     "acknowledged_by": pl.Utf8, "resolved_at": UTC_TIME}


def rule_violations(name: str, days: int = 30, engine: Engine | None = None,
                    now: datetime | None = None) -> pl.DataFrame:
    """A rule's violations detected in the last `days` days, with acknowledgements (for the chart's marks)."""
    v = violations.c
    since = (now or clock.utcnow()) - timedelta(days=days)
    stmt = (sa.select(*[v[c] for c in RULE_EVENT_SCHEMA]).where(v.rule_name == name, v.detected_at >= since)
            .order_by(v.detected_at).limit(1000))
    with db.read(engine) as conn:
        return frame(conn, stmt, RULE_EVENT_SCHEMA)


def suite_detail(name: str, engine: Engine | None = None) -> dict[str, Any]:
    """One suite (table) row: source, table, layer, data classes, schedule, owner; NotFound when unknown."""
    with db.read(engine) as conn:
        row = conn.execute(sa.select(suites).where(suites.c.name == name)).mappings().first()
    if row is None:
        raise NotFound(f"table (suite) {name!r} is not in the store. "
                       "Hint: check the name on the Rules page, or load it with `python manage.py load_dq_rules rules/`.")
    return dict(row)


SUITE_RULE_SCHEMA = {
    "name": pl.Utf8, "severity": pl.Utf8, "check_type": pl.Utf8, "status": pl.Utf8, "enabled": pl.Boolean,
    "schedule": pl.Utf8, "owner": pl.Utf8, "last_status": pl.Utf8, "last_checked_at": UTC_TIME,
    "observed_value": pl.Float64, "failing_rows": pl.Int64, "fail_level": pl.Utf8,
}


def suite_rules(name: str, days: int = 7, engine: Engine | None = None, now: datetime | None = None) -> pl.DataFrame:
    """The suite's rules with each one's newest verdict within `days` days (FAILED and ERROR first)."""
    q, r = rules.c, results.c
    since = (now or clock.utcnow()) - timedelta(days=days)
    newest = (
        sa.select(sa.func.max(r.id).label("id"))
        .where(r.rule_name.in_(sa.select(q.name).where(q.suite == name)), r.finished_at >= since)
        .group_by(r.rule_name).subquery()
    )
    latest = sa.select(r.rule_name, r.status, r.finished_at, r.observed_value, r.failing_rows, r.fail_level) \
        .join(newest, newest.c.id == r.id).subquery()
    stmt = (
        sa.select(q.name, q.severity, q.check_type, q.status, q.enabled, q.schedule, q.owner, latest.c.status,
                  latest.c.finished_at, latest.c.observed_value, latest.c.failing_rows, latest.c.fail_level)
        .select_from(rules.outerjoin(latest, latest.c.rule_name == q.name))
        .where(q.suite == name, q.status != "removed")
    )
    with db.read(engine) as conn:
        df = frame(conn, stmt, SUITE_RULE_SCHEMA)
    verdict_rank = {"ERROR": 0, "FAILED": 1, "WARNED": 2, "PASSED": 3}
    return df.sort(
        pl.col("last_status").replace_strict(verdict_rank, default=4, return_dtype=pl.Int64),
        pl.col("severity").replace_strict({s: i for i, s in enumerate(SEVERITIES)}, default=9, return_dtype=pl.Int64),
        "name",
    )


SEVERITY_WEIGHTS = {"CRITICAL": 5, "HIGH": 4, "MEDIUM": 3, "LOW": 2, "INFO": 1}


def health_score(suite_rule_rows: pl.DataFrame) -> float | None:
    """Severity-weighted share of enabled rules whose newest verdict is PASSED or WARNED (None: none ran)."""
    judged = suite_rule_rows.filter(pl.col("enabled") & pl.col("last_status").is_in(["PASSED", "WARNED", "FAILED", "ERROR"]))
    if judged.is_empty():
        return None
    weights = judged["severity"].replace_strict(SEVERITY_WEIGHTS, default=1, return_dtype=pl.Float64)
    good = judged["last_status"].is_in(["PASSED", "WARNED"]).cast(pl.Float64)
    return 100.0 * float((weights * good).sum()) / float(weights.sum())


def suites_list(engine: Engine | None = None) -> list[dict[str, Any]]:
    """Every enabled suite with its table, layer and data classes, by name."""
    s = suites.c
    stmt = (sa.select(s.name, s.table_name, s.source, s.layer, s.data_classes)
            .where(s.enabled.is_(True)).order_by(s.name))
    with db.read(engine) as conn:
        return [dict(r) for r in conn.execute(stmt).mappings()]


def alert_status_counts(since: datetime, engine: Engine | None = None) -> dict[str, int]:
    """Alerts created since `since` by status (the Alerts page's tiles; response time is a KPI)."""
    with db.read(engine) as conn:
        return alert_counts(conn, since)
