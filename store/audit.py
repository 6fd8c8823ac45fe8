"""The append-only audit log: every state change writes one row in the same transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

import clock
from store.schema import audit_log


def record(
    conn: Connection, actor: str, action: str, entity: str, entity_id: object, **details: Any
) -> None:
    """Append one audit row inside the caller's transaction."""
    conn.execute(
        audit_log.insert().values(
            at=clock.utcnow(),
            actor=actor,
            action=action,
            entity=entity,
            entity_id=None if entity_id is None else str(entity_id),
            details=details,
        )
    )
