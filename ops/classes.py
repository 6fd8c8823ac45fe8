"""Table data-class changes for the console and the CLI: list, approve and reject proposed removals."""

from __future__ import annotations

from ops.roles import User
from store import table_classes
from store.table_classes import ClassChange


def pending() -> list[ClassChange]:
    return table_classes.pending_changes()


def approve(user: User, change_id: int) -> ClassChange:
    """A data_eng_lead other than the author removes the classes; the table's bypasses are revoked."""
    return table_classes.approve(user, change_id)


def reject(user: User, change_id: int, reason: str) -> ClassChange:
    return table_classes.reject(user, change_id, reason)


def describe(change: ClassChange) -> str:
    decided = f"; {change.status} by {change.decided_by}" if change.decided_by else ""
    return (
        f"#{change.id} {change.status:<9} {change.table}: remove {', '.join(change.removed) or '-'} "
        f"(in force {list(change.current)} -> {list(change.proposed)}), proposed by {change.proposed_by} "
        f"at {change.proposed_at:%Y-%m-%d %H:%M} UTC{decided}"
    )
