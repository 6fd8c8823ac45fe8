"""Metric history per (rule, metric): the points anomaly rules are judged on, and why a point is not trained on.

A point is excluded from training, with its reason, when it lies in the detection period
before the judged instant, when the rule had an open or acknowledged violation as it was
recorded (an incident on-call saw; a violation resolved as a false positive was no incident),
when its instant lies in a bypass window of the suite (the suite was known to be broken), or
when on-call marked it "incident, exclude from training" (mark_excluded, audited).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

import clock
from store import audit, db
from store.errors import InvalidTransition, NotFound, StoreError
from store.schema import bypass_requests, metric_points, violations

ORIGINS = ("run", "backfill")
# Bypass states that were active for a while: their window is [activated_at, closed or expired).
_WINDOW_STATES = ("active", "expired", "restored", "rolled_back")


@dataclass(frozen=True)
class Period:
    """A stretch of time whose points are not trained on, and why ("violation #12", "bypass #3")."""

    start: datetime
    end: datetime | None  # None: still going on
    reason: str
    column: str  # which time of a point it covers: "recorded_at" (violations) or "at" (bypass windows)


def record_point(conn: Connection, rule_id: int, metric: str, at: datetime, value: float | None, *,
                 recorded_at: datetime, run_id: int | None = None, origin: str = "run") -> bool:
    """Store one value; False when the rule already has a point of this metric at `at` (nothing changes)."""
    if origin not in ORIGINS:
        raise StoreError(f"unknown metric point origin {origin!r}. Hint: use one of {', '.join(ORIGINS)}.")
    return db.insert_ignore(conn, metric_points, {
        "rule_id": rule_id, "metric": metric, "at": at, "value": value, "recorded_at": recorded_at,
        "run_id": run_id, "origin": origin, "excluded": False,
    })


def record_backfill(conn: Connection, rule_id: int, metric: str, points: Iterable[tuple[datetime, float | None]],
                    recorded_at: datetime) -> int:
    """Backfilled points (bucket start, value); returns how many were new (a second backfill adds none)."""
    return sum(record_point(conn, rule_id, metric, at, value, recorded_at=recorded_at, origin="backfill")
               for at, value in points)


def point_at(conn: Connection, rule_id: int, metric: str, at: datetime) -> float | None:
    """The stored value of the point at `at`, or None."""
    return conn.execute(sa.select(metric_points.c.value).where(
        metric_points.c.rule_id == rule_id, metric_points.c.metric == metric, metric_points.c.at == at)).scalar()


def has_history(conn: Connection, rule_id: int, metric: str) -> bool:
    return conn.execute(sa.select(metric_points.c.id).where(
        metric_points.c.rule_id == rule_id, metric_points.c.metric == metric).limit(1)).first() is not None


def exclusion_periods(conn: Connection, rule_id: int, suite: str) -> list[Period]:
    """The rule's violation episodes (not could-not-check ones, not false positives) and the suite's bypass windows."""
    periods = [
        Period(row.detected_at, row.resolved_at, f"violation #{row.id}", "recorded_at")
        for row in conn.execute(sa.select(violations.c.id, violations.c.detected_at, violations.c.resolved_at).where(
            violations.c.rule_id == rule_id, violations.c.verdict != "ERROR",
            sa.or_(violations.c.resolution.is_(None), violations.c.resolution != "false_positive")))
    ]
    for row in conn.execute(sa.select(bypass_requests.c.id, bypass_requests.c.activated_at, bypass_requests.c.expires_at,
                                      bypass_requests.c.closed_at).where(
            bypass_requests.c.suite == suite, bypass_requests.c.status.in_(_WINDOW_STATES),
            bypass_requests.c.activated_at.is_not(None))):
        ends = [t for t in (row.expires_at, row.closed_at) if t is not None]
        periods.append(Period(row.activated_at, min(ends) if ends else None, f"bypass #{row.id}", "at"))
    return periods


def history(conn: Connection, rule_id: int, metric: str, suite: str, *, since: datetime | None = None,
            judged_at: datetime | None = None, detection: timedelta = timedelta(0)) -> pl.DataFrame:
    """The rule's points of `metric` (oldest first) with `excluded` and its `reason` (None: trained on).

    `judged_at`: the instant being judged; points from `judged_at - detection` on are its detection
    period. Columns: id, at, value, origin, recorded_at, excluded, reason.
    """
    query = sa.select(metric_points.c.id, metric_points.c.at, metric_points.c.value, metric_points.c.origin,
                      metric_points.c.recorded_at, metric_points.c.excluded, metric_points.c.excluded_note).where(
        metric_points.c.rule_id == rule_id, metric_points.c.metric == metric).order_by(metric_points.c.at)
    if since is not None:
        query = query.where(metric_points.c.at >= since)
    rows = conn.execute(query).all()
    frame = pl.DataFrame(
        [(r.id, r.at, r.value, r.origin, r.recorded_at, bool(r.excluded), r.excluded_note) for r in rows],
        schema={"id": pl.Int64, "at": pl.Datetime("us", "UTC"), "value": pl.Float64, "origin": pl.String,
                "recorded_at": pl.Datetime("us", "UTC"), "marked": pl.Boolean, "note": pl.String}, orient="row")
    # The first matching reason wins: a mark by on-call, then the detection period, then the periods.
    reason: Any = pl.when(pl.col("marked")).then(pl.lit("incident: ") + pl.col("note").fill_null("marked by on-call"))
    if judged_at is not None and detection > timedelta(0):
        reason = reason.when(pl.col("at") >= judged_at - detection).then(pl.lit("detection period"))
    for period in exclusion_periods(conn, rule_id, suite):
        inside = pl.col(period.column) >= period.start
        if period.column == "recorded_at":  # a backfilled point predates the rule: no violation covered it
            inside &= pl.col("origin") == "run"
        if period.end is not None:
            inside &= pl.col(period.column) < period.end
        reason = reason.when(inside).then(pl.lit(period.reason))
    frame = frame.with_columns(reason=reason.otherwise(pl.lit(None, pl.String)))
    return frame.select("id", "at", "value", "origin", "recorded_at",
                        excluded=pl.col("reason").is_not_null(), reason="reason")


def mark_excluded(point_id: int, actor: str, note: str, engine: Engine | None = None) -> None:
    """Mark one point "incident, exclude from training" with a note; audited. Roles: ops/anomaly.py."""
    if not actor or not actor.strip():
        raise StoreError("no user given for marking a metric point. Hint: every write records who made it.")
    if not note or not note.strip():
        raise StoreError("marking a point as an incident needs a note. Hint: say what happened (incident id, cause).")
    with db.write(engine) as conn:
        row = conn.execute(sa.select(metric_points.c.excluded, metric_points.c.rule_id, metric_points.c.metric,
                                     metric_points.c.at).where(metric_points.c.id == point_id)).first()
        if row is None:
            raise NotFound(f"metric point #{point_id} does not exist. Hint: reload the rule page; "
                           "old points are removed by the retention cleanup.")
        if row.excluded:
            raise InvalidTransition(f"metric point #{point_id} is already excluded from training. Hint: nothing to do.")
        conn.execute(metric_points.update().where(metric_points.c.id == point_id).values(
            excluded=True, excluded_by=actor.strip(), excluded_at=clock.utcnow(), excluded_note=note.strip()))
        audit.record(conn, actor.strip(), "metric_point.excluded", "metric_point", point_id,
                     rule_id=row.rule_id, metric=row.metric, at=row.at.isoformat(), note=note.strip())
