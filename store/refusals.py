"""The audit row of a refused state change (a role check said no): who tried what, on what, and why not."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine

from store import audit, db
from store.errors import InvalidTransition, PolicyViolation


def record(actor: str, entity: str, entity_id: object, *, step: str, reason: str,
           engine: Engine | None = None, **details: object) -> None:
    """One `<entity>.refused` row in its own transaction (the refused change wrote nothing)."""
    with db.write(engine) as conn:
        audit.record(conn, (actor or "").strip() or "anonymous", f"{entity}.refused", entity, entity_id,
                     step=step, reason=reason, **details)


@contextmanager
def audited(actor: str, action: str, entity: str, entity_id: object, engine: Engine | None = None,
            **details: object) -> Iterator[None]:
    """A refused decision (PolicyViolation, InvalidTransition) writes its `action` row (e.g. `classes.refused`)
    after its own transaction rolled back, then is raised again."""
    try:
        yield
    except (PolicyViolation, InvalidTransition) as exc:
        with db.write(engine) as conn:
            audit.record(conn, (actor or "").strip() or "anonymous", action, entity, entity_id,
                         reason=str(exc), **details)
        raise
