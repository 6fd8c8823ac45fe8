"""The escalation policy: config/alerting.yaml parsed once into frozen dataclasses, validated with file, line and key.

Which channels a severity reaches, which team (Slack channel, e-mail list, PagerDuty service)
a suite or owner is routed to, who is escalated to when nobody acknowledges, and the noise
and delivery settings. Endpoints and keys are never in this file: a team names the *setting*
holding its secret (environment or .streamlit/secrets.toml).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import MappingProxyType

import configfile
import settings
from alerting.errors import PolicyError
from configfile import key
from engine.model import Severity

CHANNELS = ("slack", "email", "pagerduty", "webhook")
SEVERITIES = tuple(s.value for s in Severity)
_log = logging.getLogger(__name__)

# The runbook's "Use escalation policies", used when there is no config/alerting.yaml.
RUNBOOK_CHANNELS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "INFO": ("slack",),
        "LOW": ("slack",),
        "MEDIUM": ("email", "slack"),
        "HIGH": ("email", "slack", "pagerduty"),
        "CRITICAL": ("email", "slack", "pagerduty"),
    }
)


@dataclass(frozen=True)
class Team:
    """Where one team's alerts go; an unset channel uses the product-wide setting."""

    name: str
    slack_webhook_setting: str = "DQ_SLACK_WEBHOOK_URL"
    slack_channel: str | None = None  # a channel override, e.g. "#data-eng-oncall"
    email: tuple[str, ...] = ()  # empty: DQ_ALERT_EMAIL_TO
    pagerduty_setting: str = "DQ_PAGERDUTY_ROUTING_KEY"
    webhook_setting: str = "DQ_WEBHOOK_URL"


@dataclass(frozen=True)
class EscalationLevel:
    """Unacknowledged `after_minutes` after the first alert: alert `team` through `channels`."""

    level: int
    after_minutes: float
    team: str
    channels: tuple[str, ...]


@dataclass(frozen=True)
class Policy:
    severity_channels: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: RUNBOOK_CHANNELS)
    also_to: tuple[str, ...] = ("webhook",)
    teams: Mapping[str, Team] = field(default_factory=lambda: MappingProxyType({"default": Team("default")}))
    default_team: str = "default"
    by_suite: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    by_owner: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    escalation_severities: tuple[str, ...] = ("HIGH", "CRITICAL")
    escalate_after_minutes: float = 15.0
    levels: tuple[EscalationLevel, ...] = ()
    default_cooldown_minutes: float = 60.0
    batch_window_seconds: float = 30.0
    max_attempts: int = 8
    retry_base_seconds: float = 30.0
    retry_max_seconds: float = 3600.0
    claim_timeout_seconds: float = 300.0
    file: str | None = None

    def channels_for(self, severity: str) -> tuple[str, ...]:
        """The severity's channels, then the every-alert ones, each once."""
        listed = self.severity_channels.get(severity.upper(), RUNBOOK_CHANNELS["CRITICAL"])
        return tuple(dict.fromkeys((*listed, *self.also_to)))

    def team_for(self, suite: str, owners: Sequence[str | None] = ()) -> Team:
        """Routing: the suite's team, else the first owner (rule, then suite) with a team, else the default."""
        name = self.by_suite.get(suite)
        for owner in owners:
            if name is None and owner:
                name = self.by_owner.get(owner.lower())
        return self.teams[name or self.default_team]

    def cooldown(self, rule_minutes: int | None) -> timedelta:
        return timedelta(minutes=self.default_cooldown_minutes if rule_minutes is None else rule_minutes)

    def retry_at(self, attempts: int, now: datetime) -> datetime | None:
        """Exponential backoff after the n-th failed attempt; None once attempts are used up."""
        if attempts >= self.max_attempts:
            return None
        delay = min(self.retry_base_seconds * 2 ** (attempts - 1), self.retry_max_seconds)
        return now + timedelta(seconds=delay)


def policy_file() -> Path:
    return settings.get("DQ_CONFIG_DIR") / "alerting.yaml"


def load_policy(path: Path | None = None) -> Policy:
    """The policy from config/alerting.yaml; the runbook's defaults when the file does not exist."""
    path = path or policy_file()
    if not path.is_file():
        return Policy(levels=_default_levels(15.0, "default"))
    return _policy(configfile.load(path, AlertingFile, error=PolicyError), path)


def _default_levels(after: float, team: str) -> tuple[EscalationLevel, ...]:
    return (EscalationLevel(1, after, team, ("pagerduty", "email", "slack")),)


# --- the file's schema -----------------------------------------------------------------------

_SETTING = {
    "pattern": r"DQ_[A-Z0-9_]+", "echo": False,  # someone may have pasted the secret itself
    "pattern_hint": "is not a setting name: name the environment variable or secrets.toml key holding the secret, never the secret itself",
}
_ANY_CHANNEL = {"choices": CHANNELS, "one_or_many": True}


@dataclass(frozen=True)
class SlackSpec:
    channel: str | None = key(None, example='channel: "#data-eng-oncall"')
    webhook_setting: str | None = key(None, example="webhook_setting: DQ_SLACK_WEBHOOK_URL_SALES", **_SETTING)


@dataclass(frozen=True)
class PagerDutySpec:
    routing_key_setting: str | None = key(None, example="routing_key_setting: DQ_PAGERDUTY_ROUTING_KEY_SRE", **_SETTING)


@dataclass(frozen=True)
class WebhookSpec:
    url_setting: str | None = key(None, example="url_setting: DQ_WEBHOOK_URL_OPS", **_SETTING)


@dataclass(frozen=True)
class TeamSpec:
    slack: SlackSpec | None = None
    email: tuple[str, ...] = key((), pattern=r"[^@\s,]+@[^@\s,]+", pattern_hint="is not an e-mail address",
                                 one_or_many=True, example="email: [data-eng-oncall@company.com]")
    pagerduty: PagerDutySpec | None = None
    webhook: WebhookSpec | None = None


@dataclass(frozen=True)
class RoutingSpec:
    default_team: str | None = key(None, example="default_team: data-eng")
    by_suite: Mapping[str, str] = key({}, example="by_suite: {silver.orders: sales}")
    by_owner: Mapping[str, str] = key({}, example="by_owner: {finance@company.com: finance}")


@dataclass(frozen=True)
class LevelSpec:
    team: str = key(example="team: sre")
    channels: tuple[str, ...] = key(("pagerduty", "email", "slack"), example="channels: [pagerduty, email, slack]", **_ANY_CHANNEL)
    after_minutes: float | None = key(None, minimum=1, example="after_minutes: 60")


@dataclass(frozen=True)
class EscalationSpec:
    escalate_after_minutes: float = key(15.0, minimum=1, example="escalate_after_minutes: 15")
    severities: tuple[str, ...] = key(("HIGH", "CRITICAL"), choices=SEVERITIES, one_or_many=True, example="severities: [HIGH, CRITICAL]")
    levels: tuple[LevelSpec, ...] | None = None  # None: one level, the default team after escalate_after_minutes


@dataclass(frozen=True)
class NoiseSpec:
    default_cooldown_minutes: float = key(60.0, minimum=0, example="default_cooldown_minutes: 60")
    batch_window_seconds: float = key(30.0, minimum=0, example="batch_window_seconds: 30")


@dataclass(frozen=True)
class DeliverySpec:
    max_attempts: int = key(8, minimum=1, example="max_attempts: 8")
    retry_base_seconds: float = key(30.0, minimum=1, example="retry_base_seconds: 30")
    retry_max_seconds: float = key(3600.0, minimum=1, example="retry_max_seconds: 3600")
    claim_timeout_seconds: float = key(300.0, minimum=10, example="claim_timeout_seconds: 300")


@dataclass(frozen=True)
class AlertingFile:
    """config/alerting.yaml (docs/alerting.md)."""

    severity_channels: Mapping[str, tuple[str, ...]] = key({}, names=SEVERITIES, example="severity_channels: {HIGH: [email, slack, pagerduty]}", **_ANY_CHANNEL)
    every_alert_also_to: tuple[str, ...] = key(("webhook",), example="every_alert_also_to: [webhook]", **_ANY_CHANNEL)
    teams: Mapping[str, TeamSpec] = key({}, example="teams: {data-eng: {slack: {channel: '#data-eng-oncall'}}}")
    routing: RoutingSpec = key(RoutingSpec())
    escalation: EscalationSpec = key(EscalationSpec())
    noise: NoiseSpec = key(NoiseSpec())
    delivery: DeliverySpec = key(DeliverySpec())

    def problems(self) -> Iterator[tuple[str, str, str]]:
        """Every team named in routing and escalation is defined under `teams:`."""
        teams = list(self.teams) or ["default"]
        hint = f"use a team defined under `teams:` ({', '.join(teams)})"
        named = [("routing.default_team", self.routing.default_team)]
        named += [(f"routing.by_suite.{k}", v) for k, v in self.routing.by_suite.items()]
        named += [(f"routing.by_owner.{k}", v) for k, v in self.routing.by_owner.items()]
        named += [(f"escalation.levels.{i}.team", lvl.team) for i, lvl in enumerate(self.escalation.levels or ())]
        for where, team in named:
            if team is not None and team not in teams:
                yield (where, f"unknown team {team!r}", hint)


def _policy(parsed: AlertingFile, path: Path) -> Policy:
    teams = {name: _team(name, spec) for name, spec in parsed.teams.items()} or {"default": Team("default")}
    default_team = parsed.routing.default_team or next(iter(teams))
    escalation = parsed.escalation
    after = escalation.escalate_after_minutes
    if escalation.levels is None:
        levels = _default_levels(after, default_team)
    else:
        levels = tuple(
            EscalationLevel(i + 1, lvl.after_minutes or after * (i + 1), lvl.team, lvl.channels)
            for i, lvl in enumerate(escalation.levels)
        )
    return Policy(
        severity_channels=MappingProxyType({**RUNBOOK_CHANNELS, **parsed.severity_channels}),
        also_to=parsed.every_alert_also_to,
        teams=MappingProxyType(teams),
        default_team=default_team,
        by_suite=MappingProxyType(dict(parsed.routing.by_suite)),
        by_owner=MappingProxyType({k.lower(): v for k, v in parsed.routing.by_owner.items()}),
        escalation_severities=escalation.severities,
        escalate_after_minutes=after,
        levels=levels,
        default_cooldown_minutes=parsed.noise.default_cooldown_minutes,
        batch_window_seconds=parsed.noise.batch_window_seconds,
        max_attempts=parsed.delivery.max_attempts,
        retry_base_seconds=parsed.delivery.retry_base_seconds,
        retry_max_seconds=parsed.delivery.retry_max_seconds,
        claim_timeout_seconds=parsed.delivery.claim_timeout_seconds,
        file=str(path),
    )


def _team(name: str, spec: TeamSpec) -> Team:
    slack, pagerduty, webhook = spec.slack or SlackSpec(), spec.pagerduty or PagerDutySpec(), spec.webhook or WebhookSpec()
    return Team(
        name=name,
        slack_webhook_setting=slack.webhook_setting or "DQ_SLACK_WEBHOOK_URL",
        slack_channel=slack.channel,
        email=spec.email,
        pagerduty_setting=pagerduty.routing_key_setting or "DQ_PAGERDUTY_ROUTING_KEY",
        webhook_setting=webhook.url_setting or "DQ_WEBHOOK_URL",
    )


def current_policy(path: Path | None = None) -> Policy:
    """The policy for running code: a broken file is logged and the runbook's defaults are used,
    so a typo in alerting.yaml never loses a run's results or its alerts (check it with
    `python manage.py send_alerts --check-config`)."""
    try:
        return load_policy(path)
    except PolicyError as exc:
        _log.error("%s Using the runbook's default policy until it is fixed.", exc)
        return Policy(levels=_default_levels(15.0, "default"))
