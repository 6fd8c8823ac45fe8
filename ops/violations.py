"""What people do to violations, with the role check first: acknowledge, snooze, resolve (store/violations.py writes)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ops import permissions
from ops.roles import User
from store import violations

RESOLUTIONS = violations.RESOLUTIONS


def _ids(ids: Sequence[int]) -> str:
    return ",".join(str(int(i)) for i in ids)


def acknowledge(user: User, ids: Sequence[int], note: str = "") -> list[int]:
    """Acknowledge the open violations among `ids` as `user`; returns those that changed."""
    permissions.enforce(user, "acknowledge", "violation", _ids(ids), violation_ids=list(ids))
    return violations.acknowledge(ids, user.name, note)


def snooze(user: User, ids: Sequence[int], until: datetime, note: str = "") -> list[int]:
    """Silence alerts for unresolved violations until `until`, as `user`."""
    permissions.enforce(user, "snooze", "violation", _ids(ids), violation_ids=list(ids))
    return violations.snooze(ids, user.name, until, note)


def resolve(user: User, violation_id: int, reason: str, note: str = "") -> None:
    """Resolve a violation by hand with one of RESOLUTIONS, as `user`."""
    permissions.enforce(user, "resolve", "violation", violation_id, violation_ids=[violation_id])
    violations.resolve(violation_id, user.name, reason, note)
