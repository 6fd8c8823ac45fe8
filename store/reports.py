"""Scheduled report ticks and SLA breach state: each claimed or changed once, whatever the replicas.

A report tick is claimed by inserting (report, due_at) under a unique key in the same transaction
that queues its deliveries, so two schedulers never both send it. An SLA state row exists while a
KPI is off target; the notice is claimed by a conditional update of `notified_at`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from store import db
from store.schema import report_runs, sla_states


def claim_tick(conn: Connection, report: str, kind: str, due_at: datetime, claimed_by: str, now: datetime) -> int | None:
    """The new report_runs id when this caller claimed the tick; None when someone already had it."""
    if not db.insert_ignore(conn, report_runs, {"report": report, "due_at": due_at, "kind": kind,
                                            "claimed_by": claimed_by, "created_at": now, "alert_ids": []}):
        return None
    return int(conn.execute(sa.select(report_runs.c.id).where(
        report_runs.c.report == report, report_runs.c.due_at == due_at)).scalar_one())


def record_deliveries(conn: Connection, run_id: int, alert_ids: list[int]) -> None:
    conn.execute(report_runs.update().where(report_runs.c.id == run_id).values(alert_ids=alert_ids))


def last_tick(conn: Connection, report: str) -> datetime | None:
    return conn.execute(sa.select(sa.func.max(report_runs.c.due_at)).where(report_runs.c.report == report)).scalar()


@dataclass(frozen=True)
class SlaState:
    kpi: str
    breached_since: datetime
    value: float | None
    target: str
    notified_at: datetime | None


def sla_state(conn: Connection, kpi: str) -> SlaState | None:
    row = conn.execute(sa.select(sla_states).where(sla_states.c.kpi == kpi)).mappings().first()
    return None if row is None else SlaState(**row)


def open_breach(conn: Connection, kpi: str, value: float | None, target: str, now: datetime) -> None:
    db.insert_ignore(conn, sla_states, {"kpi": kpi, "breached_since": now, "value": value, "target": target})
    conn.execute(sla_states.update().where(sla_states.c.kpi == kpi).values(value=value))


def claim_notice(conn: Connection, kpi: str, now: datetime) -> bool:
    """True for the one caller that marks the breach notified."""
    done = conn.execute(sla_states.update().where(sla_states.c.kpi == kpi, sla_states.c.notified_at.is_(None))
                        .values(notified_at=now))
    return done.rowcount == 1


def close_breach(conn: Connection, kpi: str) -> SlaState | None:
    """Delete the state; returns what it was (None when another caller closed it first)."""
    state = sla_state(conn, kpi)
    if state is None:
        return None
    done = conn.execute(sla_states.delete().where(sla_states.c.kpi == kpi, sla_states.c.breached_since == state.breached_since))
    return state if done.rowcount == 1 else None


def breaches(conn: Connection) -> list[SlaState]:
    return [SlaState(**row) for row in conn.execute(sa.select(sla_states).order_by(sla_states.c.kpi)).mappings()]
