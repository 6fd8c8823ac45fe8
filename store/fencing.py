"""Fencing tokens: a write made under a lease or a scheduler registration names the token it holds,
and the store refuses it once a newer holder has taken over (or the lease ran out unrenewed).

A scheduler paused by SIGSTOP, a VM freeze or a long GC can wake after its lease passed to
another; every write it makes then fails here, in the same transaction, and it stops.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from store.errors import FenceLost
from store.schema import scheduler_heartbeats, suite_leases


@dataclass(frozen=True)
class Lease:
    """The lease a run was claimed under: suite, holder and the generation taken."""

    suite: str
    holder: str
    generation: int


def db_now(conn: Connection) -> datetime:
    """Aware UTC now according to the store database."""
    if conn.dialect.name == "sqlite":
        raw = conn.execute(sa.select(sa.func.strftime("%Y-%m-%d %H:%M:%f", "now"))).scalar_one()
        return datetime.fromisoformat(raw).replace(tzinfo=UTC)
    if conn.dialect.name == "postgresql":
        value = conn.execute(sa.select(sa.func.statement_timestamp())).scalar_one()
    else:
        value = conn.execute(sa.select(sa.func.current_timestamp())).scalar_one()
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def check_lease(conn: Connection, lease: Lease) -> None:
    """Raise FenceLost unless `lease` is still the suite's current lease (locks the row).

    A lease that expired but that nobody took is still current: taking or releasing a lease
    changes its generation or holder under this row lock, so the check and the write are atomic.
    """
    row = conn.execute(
        sa.select(suite_leases.c.holder, suite_leases.c.generation)
        .where(suite_leases.c.suite == lease.suite).with_for_update()
    ).first()
    if row is None or row.holder != lease.holder or row.generation != lease.generation:
        now_held = "nobody" if row is None or row.holder is None else f"{row.holder!r} (generation {row.generation})"
        raise FenceLost(
            f"the lease of suite {lease.suite!r} (generation {lease.generation}, {lease.holder!r}) is no longer "
            f"held: it was released or passed to {now_held}. The write is refused. Hint: nothing to do, the suite runs "
            "again under the current holder; a scheduler that keeps losing leases is paused or starved (CPU, swap).")


def check_registration(conn: Connection, scheduler_id: str, epoch: int) -> None:
    """Raise FenceLost unless `epoch` is still the live registration of `scheduler_id` (shares the row lock)."""
    row = conn.execute(
        sa.select(scheduler_heartbeats.c.epoch, scheduler_heartbeats.c.status)
        .where(scheduler_heartbeats.c.scheduler_id == scheduler_id).with_for_update(read=True)
    ).first()
    if row is None or row.epoch != epoch or row.status not in ("running", "stopping"):
        raise FenceLost(
            f"scheduler {scheduler_id!r} (registration {epoch}) was superseded by another start while it was "
            "not beating (paused or frozen). It stops without writing anything. Hint: check for a second "
            "scheduler with this id or on this SQLite store; systemd restarts this one if it is still wanted.")
