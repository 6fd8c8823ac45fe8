"""Reads the DQ gate and the bypass form need: a suite's latest complete run, its results and open violations.

A run is complete when it holds a result (not SKIPPED) for every enabled rule the suite has now:
a `--rule-name` run, a run from before a rule was added or a hand-written partial run never
stands for the suite.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

import clock
from store import db
from store.schema import results, rules, runs, violations

FINISHED = ("PASSED", "WARNED", "FAILED", "ERROR")
ALWAYS_BLOCKING = ("HIGH", "CRITICAL")  # configuration may add severities, never remove these
BLOCKING_VERDICTS = ("FAILED", "ERROR")
LOOKBACK_RUNS = 100  # how many recent runs are searched for a complete one
FUTURE_SKEW = timedelta(minutes=5)  # clock skew tolerated between the run's writer and the gate


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


def required_rules(conn: Connection, suite: str) -> frozenset[str]:
    """The rules a complete run must have evaluated: every enabled, live rule of the suite."""
    names = conn.execute(
        sa.select(rules.c.name).where(rules.c.suite == suite, rules.c.enabled.is_(True), rules.c.status == "active")
    ).scalars()
    return frozenset(names)


def complete_runs_in(
    conn: Connection, suite: str, *, since: datetime | None = None, failing_only: bool = False,
    limit: int = LOOKBACK_RUNS, first: int | None = None,
) -> list[RunRow]:
    """Finished complete runs of `suite`, newest first (started at or after `since`).

    With `first`, stops once that many are found (the gate needs one), reading a few runs at a time.
    """
    query = (
        sa.select(runs)
        .where(runs.c.suite == suite, runs.c.status.in_(("FAILED", "ERROR") if failing_only else FINISHED))
        .order_by(runs.c.started_at.desc(), runs.c.id.desc())
    )
    if since is not None:
        query = query.where(runs.c.started_at >= since)
    # A run stamped in the future (a process started with DQ_NOW ahead) would stay "newest" forever.
    query = query.where(runs.c.started_at <= clock.trusted_utcnow() + FUTURE_SKEW)
    required = required_rules(conn, suite)
    complete: list[RunRow] = []
    offset, batch = 0, 5 if first else limit
    while offset < limit:
        candidates = conn.execute(query.offset(offset).limit(min(batch, limit - offset))).all()
        complete += _complete(conn, candidates, required)
        if len(candidates) < batch or (first is not None and len(complete) >= first):
            break
        offset, batch = offset + len(candidates), limit
    return complete[:first] if first is not None else complete


def _complete(conn: Connection, candidates: Sequence[Any], required: frozenset[str]) -> list[RunRow]:
    if not candidates:
        return []
    by_run: dict[int, list[ResultRow]] = {r.id: [] for r in candidates}
    for row in conn.execute(
        sa.select(results).where(results.c.run_id.in_(list(by_run))).order_by(results.c.id)
    ):
        by_run[row.run_id].append(ResultRow(row.rule_name, row.severity, row.status, row.message or ""))
    complete = []
    for run in candidates:
        evaluated = {r.rule_name for r in by_run[run.id] if r.status != "SKIPPED"}
        if required <= evaluated and (required or by_run[run.id] or run.error):
            complete.append(RunRow(run.id, run.suite, run.status, run.started_at, run.finished_at, run.error,
                                   tuple(by_run[run.id])))
    return complete


def latest_complete_in(
    conn: Connection, suite: str, *, since: datetime | None = None, failing_only: bool = False
) -> RunRow | None:
    found = complete_runs_in(conn, suite, since=since, failing_only=failing_only, first=1)
    return found[0] if found else None


def latest_complete_run(
    suite: str, *, since: datetime | None = None, failing_only: bool = False, engine: Engine | None = None
) -> RunRow | None:
    """The newest complete finished run of `suite` (started at or after `since`), with its results."""
    with db.read(engine) as conn:
        return latest_complete_in(conn, suite, since=since, failing_only=failing_only)


def blocking_failures(run: RunRow, severities: tuple[str, ...] = ALWAYS_BLOCKING) -> tuple[ResultRow, ...]:
    """The results of `run` that block the gate: FAILED or ERROR at a blocking severity (HIGH, CRITICAL always)."""
    wanted = {s.upper() for s in severities} | set(ALWAYS_BLOCKING)
    return tuple(r for r in run.results if r.status in BLOCKING_VERDICTS and r.severity.upper() in wanted)
