"""Outbox rows about a violation: one constructor for triggers, recoveries, escalations and suppressions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from alerting.channels.pagerduty import dedup_key, error_dedup_key
from alerting.targets import STORE, Target
from store import alerts as outbox
from store.alerts import NewAlert, ViolationFacts


def outbox_row(v: ViolationFacts, kind: str, target: Target, payload: dict[str, Any], *,
               send_at: datetime | None, suppressed: str | None = None) -> NewAlert:
    """The outbox row of one alert about violation `v`.

    A suppression reason records it as suppressed (kept for the console, never sent); the
    store-only target counts as delivered at once; anything else waits for `send_at`.
    """
    if suppressed is not None:
        status, target = outbox.SUPPRESSED, STORE
    else:
        status = outbox.SENT if target == STORE else outbox.PENDING
    return NewAlert(
        kind=kind, channel=target.channel, destination=target.destination, payload=payload,
        violation_id=v.id, rule_name=v.rule_name, suite=v.suite, severity=v.severity,
        dedup_key=error_dedup_key(v.rule_name) if v.verdict == "ERROR" else dedup_key(v.rule_name), status=status, suppressed_reason=suppressed,
        next_attempt_at=send_at if status == outbox.PENDING else None,
    )
