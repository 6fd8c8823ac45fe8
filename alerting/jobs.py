"""The scheduler's alerting jobs: escalate unacknowledged violations, deliver the outbox."""

from __future__ import annotations

from datetime import datetime

from alerting.deliver import DeliveryReport, deliver_due
from alerting.escalate import escalate_due
from ops.housekeeping import job


@job(every_seconds=60)
def escalate_alerts(now: datetime) -> list[int]:
    return escalate_due(now=now)


@job(every_seconds=10)
def deliver_alerts(now: datetime) -> DeliveryReport:
    return deliver_due(now=now)
