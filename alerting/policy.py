"""The escalation policy: config/alerting.yaml read by configfile into a declared schema, every problem with file, line, key and Hint.

Which channels a severity reaches, which team (Slack channel, e-mail list, PagerDuty service)
a suite or owner is routed to, who is escalated to when nobody acknowledges and after how long
for each severity (the runbook's response times by default), when approvers of a waiting bypass
request are reminded, and the noise and delivery settings. Endpoints and keys are never in this file: a team names the *setting*
holding its secret (environment or .streamlit/secrets.toml).
"""

from __future__ import annotations

import logging
import re
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
_EMAIL = re.compile(r"[^@\s,]+@[^@\s,]+")
LEVEL_CHANNELS = ("pagerduty", "email", "slack")  # what an escalation level uses unless it lists channels

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


# The runbook's response times (P1-P4): unacknowledged this long after the first alert, escalate.
RUNBOOK_RESPONSE_MINUTES: Mapping[str, float] = MappingProxyType(
    {"CRITICAL": 15.0, "HIGH": 30.0, "MEDIUM": 120.0, "LOW": 1440.0}
)
RUNBOOK_STEPS: Mapping[str, tuple[float, ...]] = MappingProxyType(
    {severity: (minutes,) for severity, minutes in RUNBOOK_RESPONSE_MINUTES.items()}
)
# The failover runbook expects an answer to a bypass request within 1 h for critical issues.
APPROVAL_REMINDER_MINUTES = 60.0


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
    """Still unacknowledged at this level's step of the violation's severity: alert `team` through `channels`.

    `after_minutes` is the level's time as configured without per-severity steps (the legacy
    `escalate_after_minutes` form); the times used are `Policy.step_minutes`.
    """

    level: int
    after_minutes: float | None
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
    # severity -> minutes after the first alert at which level 1, 2, ... is alerted
    escalation_steps: Mapping[str, tuple[float, ...]] = field(default_factory=lambda: RUNBOOK_STEPS)
    levels: tuple[EscalationLevel, ...] = ()
    approval_reminder_minutes: float = APPROVAL_REMINDER_MINUTES
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

    @property
    def escalation_severities(self) -> tuple[str, ...]:
        """The severities that escalate at all (those with at least one step)."""
        return tuple(s for s in SEVERITIES if self.escalation_steps.get(s))

    def step_minutes(self, severity: str, level: int) -> float | None:
        """When `level` (1-based) is due for a violation of `severity`, in minutes; None: never."""
        steps = self.escalation_steps.get(severity.upper(), ())
        return steps[level - 1] if 0 < level <= len(steps) else None

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
    """The policy from config/alerting.yaml; the runbook's defaults when the file does not exist.

    Read by configfile.load into the declared schema `AlertingFile`; PolicyError lists every
    problem with file, line, key and Hint."""
    path = path or policy_file()
    if not path.is_file():
        return Policy(levels=_default_levels(None, "default"))
    parsed = configfile.load(path, AlertingFile, error=PolicyError)
    teams = {name: Team(name, t.slack.webhook_setting, t.slack.channel, t.email, t.pagerduty.routing_key_setting,
                        t.webhook.url_setting) for name, t in parsed.teams.items()} or {"default": Team("default")}
    default_team = parsed.routing.default_team or next(iter(teams))
    steps, levels = _escalation(parsed.escalation, default_team)
    return Policy(
        severity_channels=MappingProxyType({**RUNBOOK_CHANNELS, **parsed.severity_channels}),
        also_to=parsed.every_alert_also_to,
        teams=MappingProxyType(teams),
        default_team=default_team,
        by_suite=parsed.routing.by_suite,
        by_owner=MappingProxyType({owner.lower(): team for owner, team in parsed.routing.by_owner.items()}),
        escalation_steps=MappingProxyType(steps),
        levels=levels,
        approval_reminder_minutes=parsed.approvals.remind_after_minutes,
        default_cooldown_minutes=parsed.noise.default_cooldown_minutes,
        batch_window_seconds=parsed.noise.batch_window_seconds,
        max_attempts=parsed.delivery.max_attempts,
        retry_base_seconds=parsed.delivery.retry_base_seconds,
        retry_max_seconds=parsed.delivery.retry_max_seconds,
        claim_timeout_seconds=parsed.delivery.claim_timeout_seconds,
        file=str(path),
    )


def _default_levels(after: float | None, team: str) -> tuple[EscalationLevel, ...]:
    return (EscalationLevel(1, after, team, LEVEL_CHANNELS),)


def _escalation(section: EscalationEntry, default_team: str) -> tuple[dict[str, tuple[float, ...]], tuple[EscalationLevel, ...]]:
    """Per-severity steps (when) and levels (who).

    `steps: {SEVERITY: [minutes, ...]}` gives level 1, 2, ... their times per severity. The
    older form (`escalate_after_minutes`, `severities`, a level's `after_minutes`) is still
    read: one timer for the listed severities. Without either, each severity escalates on
    the runbook's response time (CRITICAL 15 min, HIGH 30 min, MEDIUM 2 h, LOW 24 h), level n
    after n times it.
    """
    legacy = bool(section.legacy_keys())
    after = section.escalate_after_minutes or 15.0
    if section.levels is None:
        levels = _default_levels(after if legacy else None, default_team)
    else:
        levels = tuple(EscalationLevel(n, level.after_minutes, level.team, level.channels)
                       for n, level in enumerate(section.levels, start=1))
    if section.steps is not None:
        return dict(section.steps), levels
    if legacy:
        times = tuple(level.after_minutes or after for level in levels)
        severities = ("HIGH", "CRITICAL") if section.severities is None else section.severities
        return {s: times for s in severities}, levels
    return {s: tuple(m * n for n in range(1, len(levels) + 1)) for s, m in RUNBOOK_RESPONSE_MINUTES.items()}, levels


# --- the file's schema -----------------------------------------------------------------------

_SETTING = {"pattern": r"DQ_[A-Z0-9_]+", "pattern_hint": "is not a setting name", "echo": False}
_SETTING_HINT = "name the environment variable / secrets.toml key holding the secret, never the secret itself"


@dataclass(frozen=True)
class SlackEntry:
    channel: str | None = key(None, example='channel: "#data-eng-oncall"')
    webhook_setting: str = key("DQ_SLACK_WEBHOOK_URL", example="webhook_setting: DQ_SLACK_WEBHOOK_URL_SALES", **_SETTING)


@dataclass(frozen=True)
class PagerDutyEntry:
    routing_key_setting: str = key("DQ_PAGERDUTY_ROUTING_KEY", example="routing_key_setting: DQ_PAGERDUTY_ROUTING_KEY_SRE",
                                   **_SETTING)


@dataclass(frozen=True)
class WebhookEntry:
    url_setting: str = key("DQ_WEBHOOK_URL", example="url_setting: DQ_WEBHOOK_URL_SALES", **_SETTING)


@dataclass(frozen=True)
class TeamEntry:
    """One team's destinations (a secret is named by its setting, never written here)."""

    slack: SlackEntry = key(SlackEntry())
    email: tuple[str, ...] = key((), one_or_many=True, pattern=_EMAIL.pattern, pattern_hint="is not an e-mail address",
                                 example="email: [data-eng-oncall@company.com]")
    pagerduty: PagerDutyEntry = key(PagerDutyEntry())
    webhook: WebhookEntry = key(WebhookEntry())


@dataclass(frozen=True)
class RoutingEntry:
    default_team: str | None = key(None, example="default_team: data-eng")  # unset: the first team
    by_suite: Mapping[str, str] = key({}, example="by_suite: {silver.orders: sales}")
    by_owner: Mapping[str, str] = key({}, example="by_owner: {finance@company.com: finance}")


@dataclass(frozen=True)
class LevelEntry:
    team: str = key(example="team: sre")
    channels: tuple[str, ...] = key(LEVEL_CHANNELS, choices=CHANNELS, one_or_many=True, example="channels: [pagerduty, email]")
    after_minutes: float | None = key(None, minimum=1, example="after_minutes: 15")  # the legacy single timer


def _rising(steps: Mapping[str, tuple[float, ...]]) -> Iterator[tuple[str, str, str]]:
    for severity, minutes in steps.items():
        if any(b <= a for a, b in zip(minutes, minutes[1:], strict=False)):
            yield (severity, f"{list(minutes)} is not a list of rising minutes",
                   f"e.g. `{severity}: [{RUNBOOK_RESPONSE_MINUTES.get(severity, 60):g}, 120]` (level 1, level 2)")


@dataclass(frozen=True)
class EscalationEntry:
    """`steps` per severity, or the legacy single timer (`escalate_after_minutes`, `severities`, levels' `after_minutes`)."""

    steps: Mapping[str, tuple[float, ...]] | None = key(None, names=SEVERITIES, minimum=1, one_or_many=True, check=_rising,
                                                         example="CRITICAL: [15, 60]")
    escalate_after_minutes: float | None = key(None, minimum=1, example="escalate_after_minutes: 15")
    severities: tuple[str, ...] | None = key(None, choices=SEVERITIES, one_or_many=True,
                                             example="severities: [HIGH, CRITICAL]")  # unset: HIGH, CRITICAL
    levels: tuple[LevelEntry, ...] | None = key(None, example="levels: [{team: sre}]")

    def legacy_keys(self) -> list[str]:
        keys = ["escalate_after_minutes"] if self.escalate_after_minutes is not None else []
        keys += ["severities"] if self.severities is not None else []
        return keys + [f"levels.{i}.after_minutes" for i, level in enumerate(self.levels or ())
                       if level.after_minutes is not None]

    def problems(self) -> Iterator[tuple[str, str, str]]:
        legacy = self.legacy_keys()
        if self.steps is not None and legacy:
            yield ("steps", f"given together with {', '.join(legacy)}",
                   "use per-severity `steps` alone (e.g. `steps: {CRITICAL: [15, 60], HIGH: [30, 120]}`)")


@dataclass(frozen=True)
class ApprovalsEntry:
    remind_after_minutes: float = key(APPROVAL_REMINDER_MINUTES, minimum=1, example="remind_after_minutes: 60")


@dataclass(frozen=True)
class NoiseEntry:
    default_cooldown_minutes: float = key(60.0, minimum=0, example="default_cooldown_minutes: 60")
    batch_window_seconds: float = key(30.0, minimum=0, example="batch_window_seconds: 30")


@dataclass(frozen=True)
class DeliveryEntry:
    max_attempts: int = key(8, minimum=1, example="max_attempts: 8")
    retry_base_seconds: float = key(30.0, minimum=1, example="retry_base_seconds: 30")
    retry_max_seconds: float = key(3600.0, minimum=1, example="retry_max_seconds: 3600")
    claim_timeout_seconds: float = key(300.0, minimum=10, example="claim_timeout_seconds: 300")


@dataclass(frozen=True)
class AlertingFile:
    """config/alerting.yaml."""

    severity_channels: Mapping[str, tuple[str, ...]] = key({}, names=SEVERITIES, choices=CHANNELS, one_or_many=True,
                                                           example="MEDIUM: [email, slack]")  # unlisted: the runbook's
    every_alert_also_to: tuple[str, ...] = key(("webhook",), choices=CHANNELS, one_or_many=True,
                                               example="every_alert_also_to: [webhook]")
    teams: Mapping[str, TeamEntry] = key({}, example="teams: {data-eng: {email: [oncall@company.com]}}")
    routing: RoutingEntry = key(RoutingEntry())
    escalation: EscalationEntry = key(EscalationEntry())
    approvals: ApprovalsEntry = key(ApprovalsEntry())
    noise: NoiseEntry = key(NoiseEntry())
    delivery: DeliveryEntry = key(DeliveryEntry())

    def problems(self) -> Iterator[tuple[str, str, str]]:
        """Routing and escalation name teams defined under `teams:`."""
        teams = list(self.teams) or ["default"]
        hint = f"use a team defined under `teams:` ({', '.join(teams)})"
        named = [("routing.default_team", self.routing.default_team)]
        named += [(f"routing.by_suite.{suite}", team) for suite, team in self.routing.by_suite.items()]
        named += [(f"routing.by_owner.{owner}", team) for owner, team in self.routing.by_owner.items()]
        named += [(f"escalation.levels.{i}.team", level.team) for i, level in enumerate(self.escalation.levels or ())]
        for where, team in named:
            if team is not None and team not in teams:
                yield (where, f"unknown team {team!r}", hint)


def current_policy(path: Path | None = None) -> Policy:
    """The policy for running code: a broken file is logged and the runbook's defaults are used,
    so a typo in alerting.yaml never loses a run's results or its alerts (check it with
    `python manage.py send_alerts --check-config`)."""
    try:
        return load_policy(path)
    except PolicyError as exc:
        _log.error("%s Using the runbook's default policy until it is fixed.", exc)
        return Policy(levels=_default_levels(None, "default"))
