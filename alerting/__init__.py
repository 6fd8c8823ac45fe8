"""Alerting: escalation policy, outbox enqueueing, delivery to Slack/e-mail/PagerDuty/webhook, escalation in time."""

from alerting.enqueue import enqueue_for_run
from alerting.errors import AlertingError, DeliveryFailed, PolicyError

__all__ = ["AlertingError", "DeliveryFailed", "PolicyError", "enqueue_for_run"]
