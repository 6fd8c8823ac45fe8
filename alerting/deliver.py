"""Delivering the outbox: claim due rows, send one message per batch, record the outcome.

Idempotent across restarts: rows are claimed (with a timeout) before sending and marked sent
right after each message, so a sent row is never sent again and an interrupted claim is
retried once it times out. A batch (the rows of one message) is fixed at its first claim, so
the one unavoidable gap (a crash after the receiver accepted and before the rows were marked)
repeats exactly that message under the same webhook Idempotency-Key (and PagerDuty dedup_key),
which receivers can drop.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine

import clock
from alerting.channels import BATCHED, SENDERS
from alerting.channels.slack import MAX_SECTIONS
from alerting.enqueue import enqueue_missed
from alerting.errors import DeliveryFailed
from alerting.notices import route_notices
from alerting.policy import Policy, current_policy
from store import alerts as outbox
from store import db
from store.alerts import Alert
from telemetry import counters
from telemetry.logs import ALERT_FAILED, ALERT_SENT, event

_log = logging.getLogger(__name__)
MAX_ROUNDS = 20  # claims of up to 500 rows each per call; the rest waits for the next tick


@dataclass(frozen=True)
class DeliveryReport:
    messages: int = 0  # messages (HTTP posts, e-mails) accepted by receivers
    sent: int = 0  # outbox rows marked sent
    retrying: int = 0
    failed: int = 0
    errors: tuple[str, ...] = ()


def deliver_due(
    now: datetime | None = None, engine: Engine | None = None, policy: Policy | None = None
) -> DeliveryReport:
    """Send every due outbox row once; returns what happened."""
    now = now or clock.utcnow()
    engine = engine or db.get_engine()
    policy = policy or current_policy()
    enqueue_missed(now, policy, engine)
    route_notices(now, policy, engine)
    counts = {"messages": 0, "sent": 0, "retrying": 0, "failed": 0}
    errors: list[str] = []
    for _ in range(MAX_ROUNDS):
        claimed = outbox.claim_due(engine, now, policy.claim_timeout_seconds, batch_size=batch_size)
        if not claimed:
            break
        _send(claimed, now, engine, policy, counts, errors)
    return DeliveryReport(**counts, errors=tuple(errors))


def _send(
    claimed: Sequence[Alert], now: datetime, engine: Engine, policy: Policy, counts: dict[str, int], errors: list[str]
) -> None:
    for channel, destination, batch in _batches(claimed):
        sender = SENDERS.get(channel)
        try:
            if sender is None:
                raise DeliveryFailed(f"unknown channel {channel!r}. Hint: use slack, email, pagerduty or webhook.", permanent=True)
            sender(destination, batch)
        except DeliveryFailed as exc:
            outcomes = [(row, None if exc.permanent else policy.retry_at(row.attempts, now)) for row in batch]
            outbox.mark_failed(engine, outcomes, str(exc))
            gave_up = sum(1 for _, retry in outcomes if retry is None)
            counts["failed"] += gave_up
            counts["retrying"] += len(batch) - gave_up
            errors.append(f"{channel} {destination}: {exc}")
            _log_failed(outcomes, channel, destination, exc)
        else:
            counts["messages"] += 1
            counts["sent"] += outbox.mark_sent(engine, batch, now)
            _log_sent(batch, channel, destination)


def _log_sent(batch: Sequence[Alert], channel: str, destination: str) -> None:
    for row in batch:
        counters.ALERTS.labels(channel, row.severity or "", "sent").inc()
        event(_log, logging.INFO, ALERT_SENT, row.rule_name or f"({row.kind})", channel=channel, destination=destination,
              kind=row.kind, severity=row.severity, suite=row.suite, violation_id=row.violation_id,
              alert_id=row.id, attempt=row.attempts, batch=len(batch))


def _log_failed(outcomes: Sequence[tuple[Alert, datetime | None]], channel: str, destination: str,
                exc: DeliveryFailed) -> None:
    for row, retry_at in outcomes:
        outcome = "failed" if retry_at is None else "retrying"
        counters.ALERTS.labels(channel, row.severity or "", outcome).inc()
        event(_log, logging.ERROR if retry_at is None else logging.WARNING, ALERT_FAILED, row.rule_name or f"({row.kind})",
              channel=channel, destination=destination, kind=row.kind, severity=row.severity, suite=row.suite,
              violation_id=row.violation_id, alert_id=row.id, attempt=row.attempts, outcome=outcome,
              retry_at=retry_at.isoformat() if retry_at else None, error=str(exc))


def batch_size(channel: str) -> int:
    """Rows per message: up to the Slack block limit for batched channels; PagerDuty row by row."""
    return MAX_SECTIONS if channel in BATCHED else 1


def _batches(rows: Sequence[Alert]) -> Iterator[tuple[str, str, list[Alert]]]:
    """The batches the claim fixed (oldest first), each one message to its channel+destination.

    A scheduled report was claimed as a batch of its own: a document, never a line among violations.
    """
    groups: dict[tuple[str, str, str], list[Alert]] = {}
    for row in sorted(rows, key=lambda r: r.id):
        groups.setdefault((row.channel, row.destination or "", row.batch_key or f"row-{row.id}"), []).append(row)
    for (channel, destination, _), group in groups.items():
        yield channel, destination, group
