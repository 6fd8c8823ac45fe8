"""Retrying failed alert deliveries, with the role check first: the console's button and `send_alerts --retry-failed`."""

from __future__ import annotations

from collections.abc import Sequence

import clock
from ops import permissions
from ops.roles import User
from store import alerts


def retry_failed(user: User, alert_ids: Sequence[int] | None = None) -> int:
    """Queue failed alerts (all, or the given ones) again as `user`; returns how many."""
    permissions.enforce(user, "alert_retry", "alert", None if alert_ids is None else ",".join(map(str, alert_ids)))
    return alerts.retry_failed(None, clock.utcnow(), alert_ids, actor=user.name)
