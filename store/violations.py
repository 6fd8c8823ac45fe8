"""What people do to violations: acknowledge (many, with a note), resolve by hand, snooze.

Each call is one transaction that also writes the audit log with the acting user. A violation
moves open -> acknowledged -> resolved; automatic resolution (the rule passed again) is done
by store/results.py, not here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

import clock
from store import audit, db
from store.errors import InvalidTransition, NotFound, StoreError
from store.schema import violations

RESOLUTIONS = ("false_positive", "fixed_upstream", "expected", "other")


def _states(conn: Connection, ids: Sequence[int]) -> dict[int, str]:
    rows = conn.execute(sa.select(violations.c.id, violations.c.status).where(violations.c.id.in_(ids)))
    states = {int(i): s for i, s in rows}
    missing = sorted(set(ids) - set(states))
    if missing:
        raise NotFound(
            f"violation(s) {', '.join(f'#{i}' for i in missing)} do not exist. "
            "Hint: reload the Violations page; they may have been archived."
        )
    return states


def _actor(actor: str) -> str:
    if not actor or not actor.strip():
        raise StoreError("no user given for a change to violations. Hint: every write records who made it.")
    return actor.strip()


def acknowledge(ids: Sequence[int], actor: str, note: str = "", engine: Engine | None = None) -> list[int]:
    """Acknowledge the open violations among `ids`; returns those that changed (others are skipped)."""
    actor = _actor(actor)
    ids = sorted({int(i) for i in ids})
    if not ids:
        return []
    now = clock.utcnow()
    with db.write(engine) as conn:
        states = _states(conn, ids)
        changing = [i for i in ids if states[i] == "open"]
        if changing:
            conn.execute(
                violations.update()
                .where(violations.c.id.in_(changing), violations.c.status == "open")
                .values(status="acknowledged", acknowledged=True, acknowledged_by=actor,
                        acknowledged_at=now, ack_note=note.strip() or None)
            )
        for violation_id in changing:
            audit.record(conn, actor, "violation.acknowledged", "violation", violation_id, note=note.strip())
    return changing


def resolve(violation_id: int, actor: str, reason: str, note: str = "", engine: Engine | None = None) -> None:
    """Resolve a violation by hand with one of RESOLUTIONS; a resolved one cannot be resolved again."""
    actor = _actor(actor)
    if reason not in RESOLUTIONS:
        raise StoreError(f"unknown resolution {reason!r}. Hint: use one of {', '.join(RESOLUTIONS)}.")
    if reason == "other" and not note.strip():
        raise StoreError("resolution 'other' needs a note. Hint: say why the violation is resolved.")
    now = clock.utcnow()
    with db.write(engine) as conn:
        state = _states(conn, [violation_id])[violation_id]
        if state == "resolved":
            raise InvalidTransition(
                f"violation #{violation_id} is already resolved. Hint: a new failure opens a new violation."
            )
        values: dict[str, object] = {
            "status": "resolved", "resolved_at": now, "resolved_by": actor,
            "resolution": reason, "resolution_note": note.strip() or None,
        }
        if state == "open":  # resolving by hand also says someone looked at it
            values.update(acknowledged=True, acknowledged_by=actor, acknowledged_at=now)
        conn.execute(violations.update().where(violations.c.id == violation_id).values(**values))
        audit.record(conn, actor, "violation.resolved", "violation", violation_id,
                     resolution=reason, note=note.strip(), previous=state)


def snooze(ids: Sequence[int], actor: str, until: datetime, note: str = "",
           engine: Engine | None = None) -> list[int]:
    """Silence alerts for unresolved violations until `until` (aware, in the future)."""
    actor = _actor(actor)
    now = clock.utcnow()
    if until.tzinfo is None or until <= now:
        raise StoreError(
            f"snooze end {until.isoformat()} is not an aware time in the future. Hint: pick a later time."
        )
    ids = sorted({int(i) for i in ids})
    if not ids:
        return []
    with db.write(engine) as conn:
        states = _states(conn, ids)
        changing = [i for i in ids if states[i] != "resolved"]
        if changing:
            conn.execute(violations.update().where(violations.c.id.in_(changing)).values(snoozed_until=until))
        for violation_id in changing:
            audit.record(conn, actor, "violation.snoozed", "violation", violation_id,
                         until=until.isoformat(), note=note.strip())
    return changing
