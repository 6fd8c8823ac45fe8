"""The runbook's KPIs and Grafana panels over a time window, computed in the database and Polars.

The definitions (what counts, which table) are written down in docs/console.md. One function per
KPI (`KPIS`); the Health page, `manage.py report daily` and the health JSON call them through
`health_kpis`, so they show the same numbers for the same window.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

import clock
import settings
from store import db, scheduling
from store.alerts import TRIGGER_KINDS
from store.frames import UTC_TIME, bucket, frame, parse_bucket, scalar
from store.queries import queue_length
from store.schema import (
    alerts,
    results,
    rules,
    runs,
    scheduler_heartbeats,
    scheduler_uptime,
    violations,
)

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
        """The `hours` up to now, ending on the next whole minute: the Health page, `report daily` and
        the health JSON read the same window within a minute (and the page's cache holds for it), and a
        result of a moment ago is inside it. Time-based KPIs (availability) stop at now, not at `until`."""
        now = now or clock.utcnow()
        until = now.replace(second=0, microsecond=0)
        if until < now:
            until += timedelta(minutes=1)
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
    target: str  # the runbook's target, e.g. "> 95%"; "" = shown for context, no target
    ok: bool | None  # None when there is no data or no target
    definition: str
    detail: str = ""  # what the figure is about, e.g. the stalest table

    def shown(self) -> str:
        if self.value is None:
            return "no data"
        if self.unit == "%":
            return f"{self.value:.2f}%"
        if self.unit == "changes":
            return f"{self.value:.0f}"
        return f"{self.value:.1f} {self.unit}"

    def state(self) -> str:
        if self.value is None:
            return "no data"
        if not self.target:
            return "no target"
        return "on target" if self.ok else "off target"


def _kpi(key: str, label: str, value: float | None, unit: str, target: str,
         good: Callable[[float], bool] | None, definition: str, detail: str = "") -> Kpi:
    ok = None if value is None or good is None else good(value)
    return Kpi(key, label, value, unit, target, ok, definition, detail)


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
        .where(a.violation_id == v.id, a.kind.in_(TRIGGER_KINDS), a.sent_at.is_not(None))  # as store.alerts counts it
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


def heartbeat_interval() -> timedelta:
    return timedelta(seconds=float(settings.get("DQ_HEARTBEAT_SECONDS")))


def scheduler_availability(conn: Connection, w: Window) -> float | None:
    """Percent of the window some scheduler was up, from the up-time history (scheduler_uptime).

    A stretch counts from its start to its newest heartbeat plus one interval (a beat vouches for the
    time until the next is due), except the final "stopped" beat of a scheduler. A stop, a crash or a
    gap in the beats is down time; a restart adds a stretch and keeps the earlier ones. Time before
    the first scheduler ever started is not down time: a new install is not red. None if none ever ran.
    """
    u, h = scheduler_uptime.c, scheduler_heartbeats.c
    first = conn.execute(sa.select(sa.func.min(u.up_from))).scalar()
    if first is None:
        return None
    since = max(w.since, first)
    until = min(w.until, clock.utcnow())  # the window may end on the next minute: the future is not down time
    if until <= since:
        return 100.0
    interval = heartbeat_interval()
    stopped = set(conn.execute(sa.select(h.scheduler_id).where(h.status == "stopped")).scalars())
    newest_of = dict(conn.execute(sa.select(u.scheduler_id, sa.func.max(u.id)).group_by(u.scheduler_id)).all())
    rows = conn.execute(
        sa.select(u.id, u.scheduler_id, u.up_from, u.up_to)
        .where(u.up_to >= w.since - interval, u.up_from < w.until)
    ).all()
    spans = []
    for row in rows:
        ended = row.scheduler_id in stopped and newest_of.get(row.scheduler_id) == row.id
        end = row.up_to if ended else row.up_to + interval
        start, end = max(row.up_from, since), min(end, until)
        if end > start:
            spans.append((start, end))
    return min(100.0, 100.0 * _union(spans) / (until - since))


def _union(spans: list[tuple[datetime, datetime]]) -> timedelta:
    covered, current = timedelta(0), None
    for start, end in sorted(spans):
        if current is None or start > current[1]:
            if current is not None:
                covered += current[1] - current[0]
            current = (start, end)
        else:
            current = (current[0], max(current[1], end))
    if current is not None:
        covered += current[1] - current[0]
    return covered


@dataclass(frozen=True)
class Stalest:
    hours: float
    suite: str
    rule_name: str


def stalest_table(conn: Connection, w: Window) -> Stalest | None:
    """The table whose freshness rule saw the largest age, among each rule's newest result in the window."""
    r = results.c
    newest = (
        sa.select(sa.func.max(r.id).label("id"))
        .where(r.check_type.in_(FRESHNESS_CHECKS), r.finished_at >= w.since, r.finished_at < w.until,
               r.observed_value.is_not(None))
        .group_by(r.rule_name)
        .subquery()
    )
    stmt = (sa.select(r.observed_value, r.suite, r.rule_name).join(newest, newest.c.id == r.id)
            .order_by(r.observed_value.desc(), r.suite).limit(1))
    row = conn.execute(stmt).first()
    return None if row is None else Stalest(float(row.observed_value) / 3600, row.suite, row.rule_name)


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


# --- one function per KPI -------------------------------------------------------------------------
# Each takes a read connection and the window. The Health page, `manage.py report daily`, the
# health JSON (ops.health) and the Alerts page all get their figures from here, never recompute them.

NOT_ERROR = ("PASSED", "WARNED", "FAILED")


def success_rate(conn: Connection, w: Window) -> Kpi:
    return _kpi("success_rate", "Check success rate", _rate(verdict_counts(conn, w), NOT_ERROR), "%", "> 95%",
                lambda v: v > 95, "checks that ran (not ERROR) / all checks: the system works, whatever the data")


def pass_rate(conn: Connection, w: Window) -> Kpi:
    return _kpi("pass_rate", "Check pass rate", _rate(verdict_counts(conn, w), PASSING), "%", "", None,
                "checks PASSED or WARNED / all checks that ran: how good the data is")


def avg_duration(conn: Connection, w: Window) -> Kpi:
    return _kpi("avg_duration", "Avg check duration", _avg_run_seconds(conn, w), "s", "< 30 s",
                lambda v: v < 30, "mean duration of suite runs started in the window")


def alert_response(conn: Connection, w: Window) -> Kpi:
    response = alert_response_times(conn, w)
    mean = None if response.is_empty() else float(response["response_minutes"].mean())  # type: ignore[arg-type]
    return _kpi("alert_response", "Alert response time", mean, "min", "< 15 min", lambda v: v < 15,
                "mean of acknowledged_at - first sent alert, for violations acknowledged in the window",
                "" if response.is_empty() else f"{response.height} acknowledged violation(s)")


def availability(conn: Connection, w: Window) -> Kpi:
    return _kpi("availability", "Scheduler availability", scheduler_availability(conn, w), "%", ">= 99.9%",
                lambda v: v >= 99.9, "share of the window a scheduler was up (heartbeat history, since the first start)")


def critical_pass(conn: Connection, w: Window) -> Kpi:
    return _kpi("critical_pass", "Critical rule pass rate", _rate(verdict_counts(conn, w), PASSING, "CRITICAL"), "%",
                "100%", lambda v: v >= 100 - 1e-9, "CRITICAL results PASSED or WARNED / CRITICAL results that ran")


def high_pass(conn: Connection, w: Window) -> Kpi:
    return _kpi("high_pass", "High rule pass rate", _rate(verdict_counts(conn, w), PASSING, "HIGH"), "%",
                "> 98%", lambda v: v > 98, "HIGH results PASSED or WARNED / HIGH results that ran")


def freshness(conn: Connection, w: Window) -> Kpi:
    stalest = stalest_table(conn, w)
    return _kpi("freshness", "Data freshness", None if stalest is None else stalest.hours, "h", "< 2 h",
                lambda v: v < 2, "largest age seen by each freshness rule's newest result in the window",
                "" if stalest is None else f"stalest: {stalest.suite} ({stalest.rule_name})")


def schema_changes(conn: Connection, w: Window) -> Kpi:
    return _kpi("schema_changes", "Schema changes", float(_schema_changes(conn, w.until)), "changes",
                "< 5", lambda v: v < 5, "distinct drifts reported by schema checks since the 1st of the month (UTC)",
                f"since {month_start(w.until):%b %d}")


KPIS: tuple[Callable[[Connection, Window], Kpi], ...] = (
    success_rate, pass_rate, avg_duration, alert_response, availability, critical_pass, high_pass, freshness,
    schema_changes,
)


def health_kpis(w: Window, engine: Engine | None = None) -> tuple[Kpi, ...]:
    """The runbook's KPIs for the window, each with its target and red/green state."""
    with db.read(engine) as conn:
        return tuple(compute(conn, w) for compute in KPIS)


def kpi(key: str, w: Window, engine: Engine | None = None) -> Kpi:
    """One KPI by key (e.g. the Alerts page's alert response time)."""
    with db.read(engine) as conn:
        return next(fn for fn in KPIS if fn.__name__ == key)(conn, w)


# --- the scheduler box ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SchedulerBox:
    alive: bool
    text: str  # what the box says, ending with a Hint when red


def process_gone(host: str, pid: int) -> bool:
    """A heartbeat from this host whose process no longer exists: a killed scheduler, seen at once."""
    if host != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def scheduler_box(engine: Engine | None = None) -> SchedulerBox:
    """Green while a scheduler beats; red once a beat is missed (interval + 2 s, database clock),
    at once when it said "stopped" or its process on this host is gone."""
    with db.read(engine) as conn:
        beats = scheduling.heartbeats(conn)
    if not beats:
        return SchedulerBox(False, "Scheduler: no heartbeat ever recorded. Hint: start the scheduler "
                                   "(`python manage.py scheduler`, docs/scheduler.md) and check its log.")
    limit = heartbeat_interval().total_seconds() + 2
    for beat in beats:
        if beat.status in scheduling.LIVE_STATUSES and beat.age_seconds <= limit and not process_gone(beat.host, beat.pid):
            return SchedulerBox(True, f"Scheduler {beat.scheduler_id} ({beat.status}), last heartbeat "
                                      f"{beat.age_seconds:.0f} s ago")
    newest = beats[0]
    why = ("its process is gone" if process_gone(newest.host, newest.pid) and newest.status != "stopped"
           else newest.status if newest.status == "stopped" else f"no heartbeat for {newest.age_seconds:.0f} s")
    return SchedulerBox(False, f"Scheduler {newest.scheduler_id} is DOWN ({why}; last heartbeat "
                               f"{newest.beat_at:%Y-%m-%d %H:%M:%S} UTC). Hint: `python manage.py scheduler` "
                               "or `systemctl restart dq-scheduler`, then check its log.")


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
