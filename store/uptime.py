"""Scheduler up-time as stretches [up_from, up_to]: opened at start, extended by heartbeats, read by availability."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

import settings
from store.schema import scheduler_uptime


def max_gap() -> timedelta:
    """Beats further apart than this were not one stretch of up-time (three missed beats)."""
    return timedelta(seconds=3 * float(settings.get("DQ_HEARTBEAT_SECONDS")))


def opened(conn: Connection, scheduler_id: str, now: datetime) -> None:
    """A scheduler process started: a new stretch, whatever the earlier ones were."""
    conn.execute(scheduler_uptime.insert().values(scheduler_id=scheduler_id, up_from=now, up_to=now))


def extended(conn: Connection, scheduler_id: str, now: datetime) -> None:
    """A heartbeat: extend this scheduler's newest stretch, or open one after a gap in its beats."""
    u = scheduler_uptime.c
    newest = conn.execute(
        sa.select(u.id, u.up_to).where(u.scheduler_id == scheduler_id).order_by(u.id.desc()).limit(1)
    ).first()
    if newest is None or now - newest.up_to > max_gap():
        opened(conn, scheduler_id, now)
    elif now > newest.up_to:
        conn.execute(scheduler_uptime.update().where(u.id == newest.id).values(up_to=now))
