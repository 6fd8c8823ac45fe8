"""Where an alert can go right now: a team's channel resolved against the configured settings.

A `Target` is what the outbox stores in `alerts.destination`: never a secret, only the name of
the setting that holds it (plus a Slack channel, or e-mail addresses), so a console user can
see where an alert went without seeing a webhook URL or routing key.
"""

from __future__ import annotations

from dataclasses import dataclass

import settings
from alerting.policy import Team


@dataclass(frozen=True)
class Target:
    channel: str  # slack email pagerduty webhook store
    destination: str


STORE = Target("store", "console")


def resolve(team: Team, channel: str) -> Target | None:
    """The team's target on `channel`, or None when that channel is not configured."""
    if channel == "slack":
        if not settings.secret(team.slack_webhook_setting):
            return None
        suffix = f" {team.slack_channel}" if team.slack_channel else ""
        return Target("slack", f"{team.slack_webhook_setting}{suffix}")
    if channel == "email":
        recipients = team.email or email_recipients(settings.get("DQ_ALERT_EMAIL_TO"))
        if not settings.get("DQ_SMTP_HOST") or not recipients:
            return None
        return Target("email", ",".join(recipients))
    if channel == "pagerduty":
        return Target("pagerduty", team.pagerduty_setting) if settings.secret(team.pagerduty_setting) else None
    if channel == "webhook":
        return Target("webhook", team.webhook_setting) if settings.secret(team.webhook_setting) else None
    return None


def email_recipients(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def targets_for(team: Team, channels: tuple[str, ...]) -> list[Target]:
    """The configured targets among `channels`; the console (store) when none is configured."""
    found = [t for t in (resolve(team, channel) for channel in channels) if t is not None]
    return list(dict.fromkeys(found)) or [STORE]

