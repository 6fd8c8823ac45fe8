"""Reads the DQ gate and the bypass form need: a suite's latest run, its results and open violations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from store import db
from store.schema import results, runs, violations

FINISHED = ("PASSED", "WARNED", "FAILED", "ERROR")


@dataclass(frozen=True)
class ResultRow:
    rule_name: str
    severity: str
    status: str
    message: str


@dataclass(frozen=True)
class RunRow:
    run_id: int
    suite: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    error: str | None
    results: tuple[ResultRow, ...]


def latest_run(
    suite: str, *, since: datetime | None = None, failing_only: bool = False, engine: Engine | None = None
) -> RunRow | None:
    """The newest finished run of `suite` (started at or after `since`), with its results."""
    statuses = ("FAILED", "ERROR") if failing_only else FINISHED
    query = (
        sa.select(runs)
        .where(runs.c.suite == suite, runs.c.status.in_(statuses))
        .order_by(runs.c.started_at.desc(), runs.c.id.desc())
        .limit(1)
    )
    if since is not None:
        query = query.where(runs.c.started_at >= since)
    with db.read(engine) as conn:
        run = conn.execute(query).first()
        if run is None:
            return None
        rows = conn.execute(
            sa.select(results).where(results.c.run_id == run.id).order_by(results.c.id)
        ).all()
    found = tuple(ResultRow(r.rule_name, r.severity, r.status, r.message or "") for r in rows)
    return RunRow(run.id, run.suite, run.status, run.started_at, run.finished_at, run.error, found)


def open_violation_ids(suite: str, *, engine: Engine | None = None) -> tuple[int, ...]:
    with db.read(engine) as conn:
        ids = conn.execute(
            sa.select(violations.c.id)
            .where(violations.c.suite == suite, violations.c.status != "resolved")
            .order_by(violations.c.id)
        ).scalars()
        return tuple(int(i) for i in ids)
