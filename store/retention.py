"""Retention queries: which violations, results and runs are older than a cutoff, in id-ordered batches.

Eligible: violations that are resolved and were last seen and resolved before the cutoff
(an open or acknowledged episode is kept however old, with its samples); runs that started
before the cutoff and are not RUNNING; the results of those runs. A run is deleted only once
none of its results is left, so a delete never cascades to rows that were not archived.
Metric points (anomaly history) whose instant is before the cutoff.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from store.errors import StoreError
from store.export import read_table
from store.scheduling import claim_schedule
from store.schema import (
    metric_points,
    results,
    runs,
    schedule_claims,
    violation_samples,
    violations,
)

KINDS = ("violations", "results", "runs", "metric_points")
# The monthly job claims its period like a suite's schedule tick, so one replica runs it once.
HOUSEKEEPING_CLAIM = "housekeeping:retention"


class BatchChanged(StoreError):
    """Rows of a retention batch changed between archiving and deleting; nothing was deleted."""


@dataclass(frozen=True)
class Batch:
    kind: str
    rows: pl.DataFrame
    samples: pl.DataFrame | None = None  # violation_samples of the violations in `rows`

    @property
    def ids(self) -> list[int]:
        return self.rows["id"].to_list()


def _eligible(kind: str, cutoff: datetime) -> Any:
    if kind == "metric_points":
        return metric_points.c.at < cutoff
    if kind == "violations":
        return sa.and_(
            violations.c.status == "resolved",
            violations.c.last_seen_at < cutoff,
            sa.or_(violations.c.resolved_at.is_(None), violations.c.resolved_at < cutoff),
        )
    old_runs = sa.and_(runs.c.started_at < cutoff, runs.c.status != "RUNNING")
    if kind == "results":
        return results.c.run_id.in_(sa.select(runs.c.id).where(old_runs))
    return sa.and_(old_runs, ~sa.exists().where(results.c.run_id == runs.c.id))


def _table(kind: str) -> sa.Table:
    return {"violations": violations, "results": results, "runs": runs, "metric_points": metric_points}[kind]


def count_eligible(conn: Connection, cutoff: datetime) -> dict[str, int]:
    """How many rows a cleanup at `cutoff` would archive, per table (runs counted with their results)."""
    old_runs = sa.and_(runs.c.started_at < cutoff, runs.c.status != "RUNNING")
    old_violation_ids = sa.select(violations.c.id).where(_eligible("violations", cutoff))
    counts = {
        "violations": sa.select(sa.func.count()).where(_eligible("violations", cutoff)),
        "violation_samples": sa.select(sa.func.count()).where(violation_samples.c.violation_id.in_(old_violation_ids)),
        "results": sa.select(sa.func.count()).where(_eligible("results", cutoff)),
        "runs": sa.select(sa.func.count()).where(old_runs),
        "metric_points": sa.select(sa.func.count()).where(_eligible("metric_points", cutoff)),
    }
    return {name: int(conn.execute(query).scalar_one()) for name, query in counts.items()}


def next_batch(conn: Connection, kind: str, cutoff: datetime, limit: int) -> Batch | None:
    """The `limit` eligible rows of `kind` with the smallest ids, or None when none is left."""
    table = _table(kind)
    ids = list(conn.execute(sa.select(table.c.id).where(_eligible(kind, cutoff)).order_by(table.c.id).limit(limit)).scalars())
    if not ids:
        return None
    rows = read_table(conn, table, table.c.id.in_(ids))
    samples = read_table(conn, violation_samples, violation_samples.c.violation_id.in_(ids)) if kind == "violations" else None
    return Batch(kind, rows, samples)


def delete_batch(conn: Connection, batch: Batch, cutoff: datetime) -> int:
    """Delete exactly the archived rows (still eligible); raise BatchChanged, rolling back, if they moved."""
    table = _table(batch.kind)
    if batch.samples is not None:
        gone = conn.execute(violation_samples.delete().where(violation_samples.c.violation_id.in_(batch.ids))).rowcount
        if gone != batch.samples.height:
            raise BatchChanged(_changed(batch, "violation_samples"))
    condition: sa.ColumnElement[bool] = table.c.id.in_(batch.ids)
    if batch.kind != "results":
        # Results are never updated once written; violations and runs change state, so check again.
        # (Re-checking results would cost SQLite a scan of the run subquery per batch.)
        condition = sa.and_(condition, _eligible(batch.kind, cutoff))
    gone = conn.execute(table.delete().where(condition)).rowcount
    if gone != batch.rows.height:
        raise BatchChanged(_changed(batch, batch.kind))
    return gone


def _changed(batch: Batch, table: str) -> str:
    return (
        f"{table} rows of the batch {batch.ids[0]}..{batch.ids[-1]} changed while they were archived; "
        "nothing of this batch was deleted. Hint: run the cleanup again; it archives the batch anew."
    )


def maintain(engine: Engine) -> str:
    """The database's own upkeep after a large delete, outside any transaction; returns what ran.

    It is not worth failing a finished cleanup over: when the database is busy (a long read
    holds SQLite, a lock on PostgreSQL), the answer says it was skipped and why.
    """
    try:
        return _sqlite_maintenance(engine) if engine.dialect.name == "sqlite" else _postgresql_maintenance(engine)
    except (sa.exc.DBAPIError, engine.dialect.loaded_dbapi.Error) as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        return f"skipped ({reason}). Hint: run it later with `cleanup` again or by hand"


def _sqlite_maintenance(engine: Engine) -> str:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA optimize")
        cursor.execute("VACUUM")
        cursor.close()
    finally:
        raw.close()
    return "PRAGMA optimize; VACUUM"


def _postgresql_maintenance(engine: Engine) -> str:
    names = [t.name for t in (runs, results, violations, violation_samples)]
    quote = engine.dialect.identifier_preparer.quote
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for name in names:
            conn.exec_driver_sql(f"VACUUM ANALYZE {quote(name)}")
    return "VACUUM ANALYZE " + ", ".join(names)


def claim_period(conn: Connection, period_start: datetime, holder: str) -> bool:
    """Claim the scheduled cleanup of one period; only one claim per period ever succeeds."""
    return claim_schedule(conn, HOUSEKEEPING_CLAIM, period_start, holder)


def release_period(conn: Connection, period_start: datetime) -> None:
    """Give a failed period's claim back, so the next housekeeping pass tries again."""
    conn.execute(schedule_claims.delete().where(
        schedule_claims.c.suite == HOUSEKEEPING_CLAIM, schedule_claims.c.due_at == period_start))
