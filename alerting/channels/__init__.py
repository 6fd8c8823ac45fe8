"""Alert channels: each takes one batch of outbox rows for one destination and sends it, or raises DeliveryFailed."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from alerting.channels import email, pagerduty, slack, webhook
from store.alerts import Alert

Sender = Callable[[str, Sequence[Alert]], None]


def _store(destination: str, rows: Sequence[Alert]) -> None:
    """The console is the destination: the row in the store is the delivery."""


SENDERS: dict[str, Sender] = {
    "slack": slack.send,
    "email": email.send,
    "pagerduty": pagerduty.send,
    "webhook": webhook.send,
    "store": _store,
}
# Channels whose one message lists a whole batch; PagerDuty takes one event per request.
BATCHED = frozenset({"slack", "email", "webhook", "store"})
