"""The runbook's KPIs and Grafana panels over a time window, computed in the database and Polars.

The definitions (what counts, which table) are written down in docs/console.md; the Health
page and `manage.py report daily` both call `health_kpis`, so they always show the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

import clock
from store import db
from store.frames import UTC_TIME, bucket, frame, parse_bucket, scalar
from store.queries import queue_length
from store.schema import alerts, results, rules, runs, scheduler_heartbeats, violations

PASSING = ("PASSED", "WARNED")
JUDGED = ("PASSED", "WARNED", "FAILED", "ERROR")  # SKIPPED results are not checks that ran
FRESHNESS_CHECKS = ("freshness",)
SCHEMA_CHECKS = ("schema",)


@dataclass(frozen=True)
class Window:
    since: datetime
    until: datetime

    @classmethod
    def last(cls, hours: float, now: datetime | None = None) -> Window:
        until = now or clock.utcnow()
        return cls(until - timedelta(hours=hours), until)

    @property
    def hours(self) -> float:
        return (self.until - self.since).total_seconds() / 3600


@dataclass(frozen=True)
class Kpi:
    key: str
    label: str
    value: float | None  # None = no data in the window
    unit: str  # "%", "s", "min", "h", "changes"
    target: str  # the runbook's target, e.g. "> 95%"
    ok: bool | None  # None when there is no data
    definition: str

    def shown(self) -> str:
        if self.value is None:
            return "no data"
        if self.unit == "%":
            return f"{self.value:.2f}%"
        if self.unit == "changes":
            return f"{self.value:.0f}"
        return f"{self.value:.1f} {self.unit}"


def _kpi(key: str, label: str, value: float | None, unit: str, target: str,
         good: Callable[[float], bool], definition: str) -> Kpi:
    return Kpi(key, label, value, unit, target, None if value is None else good(value), definition)


# --- counts ---------------------------------------------------------------------------------


def verdict_counts(conn: Connection, w: Window) -> pl.DataFrame:
    """Results in the window counted by severity and verdict."""
    r = results.c
    stmt = (
        sa.select(r.severity, r.status, sa.func.count())
        .where(r.finished_at >= w.since, r.finished_at < w.until)
        .group_by(r.severity, r.status)
    )
    return frame(conn, stmt, {"severity": pl.Utf8, "status": pl.Utf8, "n": pl.Int64})


def _rate(counts: pl.DataFrame, good: tuple[str, ...], severity: str | None = None) -> float | None:
    judged = counts.filter(pl.col("status").is_in(JUDGED))
    if severity is not None:
        judged = judged.filter(pl.col("severity") == severity)
    total = int(judged["n"].sum())
    if not total:
        return None
    return 100.0 * int(judged.filter(pl.col("status").is_in(good))["n"].sum()) / total


def _avg_run_seconds(conn: Connection, w: Window) -> float | None:
    c = runs.c
    stmt = sa.select(sa.func.avg(c.duration_ms)).where(
        c.started_at >= w.since, c.started_at < w.until, c.duration_ms.is_not(None), c.status != "ABORTED"
    )
    value = conn.execute(stmt).scalar()
    return None if value is None else float(value) / 1000


def alert_response_times(conn: Connection, w: Window) -> pl.DataFrame:
    """Violations acknowledged in the window with their first sent alert and the minutes between."""
    a, v = alerts.c, violations.c
    # Correlated per violation (index on alerts.violation_id): cost follows the window, not the history.
    first_sent = (
        sa.select(sa.func.min(a.sent_at))
        .where(a.violation_id == v.id, a.kind == "trigger", a.sent_at.is_not(None))  # as store.alerts counts it
        .scalar_subquery()
    )
    stmt = (
        sa.select(v.id, v.rule_name, v.severity, first_sent.label("first_alert_at"), v.acknowledged_at)
        .where(v.acknowledged_at >= w.since, v.acknowledged_at < w.until)
        .order_by(v.acknowledged_at)
    )
    schema = {"violation_id": pl.Int64, "rule_name": pl.Utf8, "severity": pl.Utf8,
              "first_alert_at": UTC_TIME, "acknowledged_at": UTC_TIME}
    df = frame(conn, stmt, schema).drop_nulls("first_alert_at")  # acknowledged before any alert went out
    return df.with_columns(
        response_minutes=(pl.col("acknowledged_at") - pl.col("first_alert_at")).dt.total_seconds() / 60
    )


def scheduler_availability(conn: Connection, w: Window) -> float | None:
    """Percent of the window covered by some scheduler's life (started_at .. last heartbeat).

    Each scheduler process keeps one heartbeat row; the union of their [started_at, beat_at]
    intervals clipped to the window is the time a scheduler was up, out of the part of the window
    after the first scheduler ever started. None if none ever ran.
    """
    h = scheduler_heartbeats.c
    stmt = sa.select(h.started_at, h.beat_at).where(h.beat_at >= w.since, h.started_at < w.until)
    spans = sorted(
        (max(s, w.since), min(b, w.until)) for s, b in conn.execute(stmt).all() if b > s
    )
    if not spans:
        ever = conn.execute(sa.select(sa.func.count()).select_from(scheduler_heartbeats)).scalar()
        return 0.0 if ever else None
    covered, current_start, current_end = timedelta(0), spans[0][0], spans[0][1]
    for start, end in spans[1:]:  # at most a handful of scheduler processes
        if start > current_end:
            covered += current_end - current_start
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    covered += current_end - current_start
    # Time before the first scheduler ever started is not down time: a new install starts green.
    first = conn.execute(sa.select(sa.func.min(h.started_at))).scalar()
    since = max(w.since, first) if first is not None else w.since
    return min(100.0, 100.0 * covered / (w.until - since)) if w.until > since else 100.0


def _stalest_hours(conn: Connection, w: Window) -> float | None:
    """The largest observed age (hours) among each freshness rule's newest result in the window."""
    r = results.c
    newest = (
        sa.select(sa.func.max(r.id).label("id"))
        .where(r.check_type.in_(FRESHNESS_CHECKS), r.finished_at >= w.since, r.finished_at < w.until,
               r.observed_value.is_not(None))
        .group_by(r.rule_name)
        .subquery()
    )
    stmt = sa.select(sa.func.max(r.observed_value)).join(newest, newest.c.id == r.id)
    value = conn.execute(stmt).scalar()
    return None if value is None else float(value) / 3600


def month_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _schema_changes(conn: Connection, now: datetime) -> int:
    """Distinct drifts (rule, observed text) that schema checks reported since the month began."""
    r = results.c
    drifts = (
        sa.select(r.rule_name, r.observed_text)
        .where(r.check_type.in_(SCHEMA_CHECKS), r.status.in_(("WARNED", "FAILED")),
               r.finished_at >= month_start(now), r.finished_at <= now)
        .distinct()
        .subquery()
    )
    return scalar(conn, sa.select(sa.func.count()).select_from(drifts))


# --- the KPI table ----------------------------------------------------------------------------


def health_kpis(w: Window, engine: Engine | None = None) -> tuple[Kpi, ...]:
    """The runbook's eight KPIs for the window, each with its target and red/green state."""
    with db.read(engine) as conn:
        counts = verdict_counts(conn, w)
        avg_seconds = _avg_run_seconds(conn, w)
        response = alert_response_times(conn, w)
        availability = scheduler_availability(conn, w)
        stalest = _stalest_hours(conn, w)
        changes = _schema_changes(conn, w.until)
    mean_response = None if response.is_empty() else float(response["response_minutes"].mean())  # type: ignore[arg-type]
    not_error = ("PASSED", "WARNED", "FAILED")
    return (
        _kpi("success_rate", "Check success rate", _rate(counts, not_error), "%", "> 95%",
             lambda v: v > 95, "results that are not ERROR / all results that ran"),
        _kpi("avg_duration", "Average check duration", avg_seconds, "s", "< 30 s",
             lambda v: v < 30, "mean duration of suite runs started in the window"),
        _kpi("alert_response", "Alert response time", mean_response, "min", "< 15 min",
             lambda v: v < 15, "mean of acknowledged_at - first sent alert, for violations acknowledged in the window"),
        _kpi("availability", "Scheduler availability", availability, "%", ">= 99.9%",
             lambda v: v >= 99.9, "share of the window covered by scheduler lifetimes (start .. last heartbeat)"),
        _kpi("critical_pass", "Critical rule pass rate", _rate(counts, PASSING, "CRITICAL"), "%", "100%",
             lambda v: v >= 100 - 1e-9, "CRITICAL results PASSED or WARNED / CRITICAL results that ran"),
        _kpi("high_pass", "High-priority pass rate", _rate(counts, PASSING, "HIGH"), "%", "> 98%",
             lambda v: v > 98, "HIGH results PASSED or WARNED / HIGH results that ran"),
        _kpi("freshness", "Data freshness", stalest, "h", "< 2 h",
             lambda v: v < 2, "largest age seen by each freshness rule's newest result in the window"),
        _kpi("schema_changes", "Schema changes this month", float(changes), "changes", "< 5",
             lambda v: v < 5, "distinct drifts reported by schema checks since the 1st of the month (UTC)"),
    )


# --- panels ----------------------------------------------------------------------------------


def success_over_time(w: Window, engine: Engine | None = None) -> pl.DataFrame:
    """Results per hour (windows up to 2 days) or per day, with the success rate."""
    r = results.c
    unit = "hour" if w.hours <= 48 else "day"
    with db.read(engine) as conn:
        slot = bucket(conn, r.finished_at, unit).label("slot")
        stmt = (
            sa.select(slot, sa.func.count(), sa.func.sum(sa.case((r.status == "ERROR", 1), else_=0)))
            .where(r.finished_at >= w.since, r.finished_at < w.until, r.status.in_(JUDGED))
            .group_by(slot)
            .order_by(slot)
        )
        df = frame(conn, stmt, {"slot": pl.Utf8, "results": pl.Int64, "errors": pl.Int64})
    return df.with_columns(
        parse_bucket("slot"), success_rate=100.0 * (pl.col("results") - pl.col("errors")) / pl.col("results")
    )


def violations_by_severity(w: Window, engine: Engine | None = None) -> pl.DataFrame:
    v = violations.c
    stmt = (
        sa.select(v.severity, sa.func.count())
        .where(v.detected_at >= w.since, v.detected_at < w.until)
        .group_by(v.severity)
    )
    with db.read(engine) as conn:
        return frame(conn, stmt, {"severity": pl.Utf8, "violations": pl.Int64}).sort("violations", descending=True)


def top_failing_rules(w: Window, limit: int = 10, engine: Engine | None = None) -> pl.DataFrame:
    """Rules with the most FAILED results in the window, with their runs and failure rate."""
    r = results.c
    failed = sa.func.sum(sa.case((r.status == "FAILED", 1), else_=0))
    stmt = (
        sa.select(r.rule_name, r.suite, r.severity, failed.label("failed"), sa.func.count().label("results"))
        .where(r.finished_at >= w.since, r.finished_at < w.until, r.status.in_(JUDGED))
        .group_by(r.rule_name, r.suite, r.severity)
        .having(failed > 0)
        .order_by(failed.desc(), r.rule_name)
        .limit(limit)
    )
    schema = {"rule_name": pl.Utf8, "suite": pl.Utf8, "severity": pl.Utf8, "failed": pl.Int64, "results": pl.Int64}
    with db.read(engine) as conn:
        df = frame(conn, stmt, schema)
    return df.with_columns(failure_rate=100.0 * pl.col("failed") / pl.col("results"))


def check_durations(w: Window, limit: int = 20_000, engine: Engine | None = None) -> pl.DataFrame:
    """Durations (seconds) of the newest finished runs in the window, for the histogram."""
    c = runs.c
    stmt = (
        sa.select(c.suite, (c.duration_ms / 1000.0).label("seconds"))
        .where(c.started_at >= w.since, c.started_at < w.until, c.duration_ms.is_not(None))
        .order_by(c.started_at.desc())
        .limit(limit)
    )
    with db.read(engine) as conn:
        return frame(conn, stmt, {"suite": pl.Utf8, "seconds": pl.Float64})


def response_times(w: Window, engine: Engine | None = None) -> pl.DataFrame:
    with db.read(engine) as conn:
        return alert_response_times(conn, w)


# --- the daily summary -------------------------------------------------------------------------


@dataclass(frozen=True)
class DailySummary:
    """The runbook's daily health check: the same figures as the top of the Health page."""

    generated_at: datetime
    window: Window
    runs_by_status: dict[str, int]
    rules_total: int
    rules_enabled: int
    unacknowledged_in_window: int
    open_violations: int
    queue_length: int
    kpis: tuple[Kpi, ...]


def daily_summary(w: Window, engine: Engine | None = None) -> DailySummary:
    kpis = health_kpis(w, engine)
    c, v, q = runs.c, violations.c, rules.c
    with db.read(engine) as conn:
        by_status = conn.execute(
            sa.select(c.status, sa.func.count()).where(c.started_at >= w.since, c.started_at < w.until)
            .group_by(c.status)
        ).all()
        rules_total = scalar(conn, sa.select(sa.func.count()).select_from(rules).where(q.status != "removed"))
        enabled = scalar(conn, sa.select(sa.func.count()).select_from(rules).where(q.enabled.is_(True)))
        unacked = scalar(conn, sa.select(sa.func.count()).select_from(violations).where(
            v.acknowledged.is_(False), v.detected_at >= w.since, v.detected_at < w.until))
        open_now = scalar(conn, sa.select(sa.func.count()).select_from(violations).where(v.status == "open"))
    return DailySummary(
        generated_at=w.until, window=w, runs_by_status={s: int(n) for s, n in by_status},
        rules_total=rules_total, rules_enabled=enabled, unacknowledged_in_window=unacked,
        open_violations=open_now, queue_length=queue_length(engine), kpis=kpis,
    )
