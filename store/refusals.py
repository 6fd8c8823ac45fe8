"""The audit row of a refused state change (a role check said no): who tried what, on what, and why not."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from store import audit, db


def record(actor: str, entity: str, entity_id: object, *, step: str, reason: str,
           engine: Engine | None = None, **details: object) -> None:
    """One `<entity>.refused` row in its own transaction (the refused change wrote nothing)."""
    with db.write(engine) as conn:
        audit.record(conn, (actor or "").strip() or "anonymous", f"{entity}.refused", entity, entity_id,
                     step=step, reason=reason, **details)
