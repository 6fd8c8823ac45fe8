"""The escalation policy: config/alerting.yaml parsed once into frozen dataclasses, validated with file, line and key.

Which channels a severity reaches, which team (Slack channel, e-mail list, PagerDuty service)
a suite or owner is routed to, who is escalated to when nobody acknowledges and after how long
for each severity (the runbook's response times by default), when approvers of a waiting bypass
request are reminded, and the noise and delivery settings. Endpoints and keys are never in this file: a team names the *setting*
holding its secret (environment or .streamlit/secrets.toml).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

import settings
from alerting.errors import PolicyError
from engine.model import Severity

CHANNELS = ("slack", "email", "pagerduty", "webhook")
SEVERITIES = tuple(s.value for s in Severity)
_log = logging.getLogger(__name__)
_SETTING_NAME = re.compile(r"^DQ_[A-Z0-9_]+$")
_EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+$")

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
    """The policy from config/alerting.yaml; the runbook's defaults when the file does not exist."""
    path = path or policy_file()
    if not path.is_file():
        return Policy(levels=_default_levels(None, "default"))
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path}: {exc}. Hint: fix the YAML syntax.") from exc
    return _Parser(path, _lines(node)).policy(data or {})


def _default_levels(after: float | None, team: str) -> tuple[EscalationLevel, ...]:
    return (EscalationLevel(1, after, team, ("pagerduty", "email", "slack")),)


def _lines(node: yaml.Node | None, prefix: str = "") -> dict[str, int]:
    """key path ("escalation.levels.0.team") -> 1-based line, for error messages."""
    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            path = f"{prefix}.{key.value}" if prefix else str(key.value)
            lines[path] = key.start_mark.line + 1
            lines.update(_lines(value, path))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            path = f"{prefix}.{index}"
            lines[path] = item.start_mark.line + 1
            lines.update(_lines(item, path))
    return lines


_TOP_KEYS = ("severity_channels", "every_alert_also_to", "teams", "routing", "escalation", "approvals", "noise",
             "delivery")


class _Parser:
    """Collects every problem of the file, then raises one PolicyError listing them."""

    def __init__(self, path: Path, lines: dict[str, int]) -> None:
        self.path = path
        self.lines = lines
        self.problems: list[str] = []

    def problem(self, key: str, what: str, hint: str) -> None:
        line = self.lines.get(key)
        where = f"{self.path}:{line}" if line else str(self.path)
        self.problems.append(f"{where}: {key}: {what}. Hint: {hint}")

    def mapping(self, value: Any, key: str, allowed: Sequence[str] | None = None) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(key, f"expected a mapping, got {type(value).__name__}", "write `key: value` pairs")
            return {}
        for name in value:
            if allowed is not None and name not in allowed:
                self.problem(f"{key}.{name}" if key else str(name), "unknown key", f"use one of {', '.join(allowed)}")
        return value

    def number(self, section: dict[str, Any], key: str, name: str, default: float, minimum: float = 0) -> float:
        value = section.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
            self.problem(f"{key}.{name}", f"{value!r} is not a number >= {minimum:g}", f"e.g. `{name}: {default:g}`")
            return default
        return float(value)

    def channels(self, value: Any, key: str) -> tuple[str, ...]:
        items = value if isinstance(value, list) else [value]
        bad = [item for item in items if item not in CHANNELS]
        if bad:
            self.problem(key, f"unknown channel(s) {bad}", f"use any of {', '.join(CHANNELS)}")
        return tuple(item for item in items if item in CHANNELS)

    def setting_name(self, value: Any, key: str, default: str) -> str:
        if value is None:
            return default
        if not isinstance(value, str) or not _SETTING_NAME.match(value):
            self.problem(key, f"{value!r} is not a setting name", "name the environment variable / secrets.toml key holding the secret, e.g. DQ_SLACK_WEBHOOK_URL_SALES (never the secret itself)")
            return default
        return value

    def policy(self, data: Any) -> Policy:
        data = self.mapping(data, "", _TOP_KEYS)
        severity_channels = self.severity_channels(data.get("severity_channels"))
        also_to = self.channels(data.get("every_alert_also_to", ["webhook"]) or [], "every_alert_also_to")
        teams = self.teams(data.get("teams"))
        routing = self.routing(data.get("routing"), teams)
        escalation = self.escalation(data.get("escalation"), teams, routing["default_team"])
        approvals = self.mapping(data.get("approvals"), "approvals", ("remind_after_minutes",))
        noise = self.mapping(data.get("noise"), "noise", ("default_cooldown_minutes", "batch_window_seconds"))
        delivery = self.mapping(
            data.get("delivery"),
            "delivery",
            ("max_attempts", "retry_base_seconds", "retry_max_seconds", "claim_timeout_seconds"),
        )
        policy = Policy(
            severity_channels=MappingProxyType(severity_channels),
            also_to=also_to,
            teams=MappingProxyType(teams),
            default_team=routing["default_team"],
            by_suite=MappingProxyType(routing["by_suite"]),
            by_owner=MappingProxyType(routing["by_owner"]),
            escalation_steps=MappingProxyType(escalation["steps"]),
            levels=escalation["levels"],
            approval_reminder_minutes=self.number(approvals, "approvals", "remind_after_minutes", APPROVAL_REMINDER_MINUTES, minimum=1),
            default_cooldown_minutes=self.number(noise, "noise", "default_cooldown_minutes", 60),
            batch_window_seconds=self.number(noise, "noise", "batch_window_seconds", 30),
            max_attempts=int(self.number(delivery, "delivery", "max_attempts", 8, minimum=1)),
            retry_base_seconds=self.number(delivery, "delivery", "retry_base_seconds", 30, minimum=1),
            retry_max_seconds=self.number(delivery, "delivery", "retry_max_seconds", 3600, minimum=1),
            claim_timeout_seconds=self.number(delivery, "delivery", "claim_timeout_seconds", 300, minimum=10),
            file=str(self.path),
        )
        if self.problems:
            raise PolicyError(
                f"{self.path} has {len(self.problems)} problem(s):\n  " + "\n  ".join(self.problems)
            )
        return policy

    def severity_channels(self, value: Any) -> dict[str, tuple[str, ...]]:
        section = self.mapping(value, "severity_channels", SEVERITIES)
        result = dict(RUNBOOK_CHANNELS)
        for severity, channels in section.items():
            if severity in SEVERITIES:
                result[severity] = self.channels(channels or [], f"severity_channels.{severity}")
        return result

    def teams(self, value: Any) -> dict[str, Team]:
        section = self.mapping(value, "teams")
        teams: dict[str, Team] = {}
        for name, spec in section.items():
            key = f"teams.{name}"
            spec = self.mapping(spec, key, CHANNELS)
            slack = self.mapping(spec.get("slack"), f"{key}.slack", ("channel", "webhook_setting"))
            pagerduty = self.mapping(spec.get("pagerduty"), f"{key}.pagerduty", ("routing_key_setting",))
            webhook = self.mapping(spec.get("webhook"), f"{key}.webhook", ("url_setting",))
            teams[str(name)] = Team(
                name=str(name),
                slack_webhook_setting=self.setting_name(slack.get("webhook_setting"), f"{key}.slack.webhook_setting", "DQ_SLACK_WEBHOOK_URL"),
                slack_channel=slack.get("channel"),
                email=self.emails(spec.get("email"), f"{key}.email"),
                pagerduty_setting=self.setting_name(pagerduty.get("routing_key_setting"), f"{key}.pagerduty.routing_key_setting", "DQ_PAGERDUTY_ROUTING_KEY"),
                webhook_setting=self.setting_name(webhook.get("url_setting"), f"{key}.webhook.url_setting", "DQ_WEBHOOK_URL"),
            )
        return teams or {"default": Team("default")}

    def emails(self, value: Any, key: str) -> tuple[str, ...]:
        if value is None:
            return ()
        items = value if isinstance(value, list) else [value]
        bad = [item for item in items if not isinstance(item, str) or not _EMAIL.match(item)]
        if bad:
            self.problem(key, f"not e-mail addresses: {bad}", "list addresses like `[data-eng-oncall@company.com]`")
        return tuple(str(item) for item in items if item not in bad)

    def team_name(self, value: Any, key: str, teams: Mapping[str, Team]) -> str | None:
        if value in teams:
            return str(value)
        self.problem(key, f"unknown team {value!r}", f"use a team defined under `teams:` ({', '.join(teams)})")
        return None

    def routing(self, value: Any, teams: Mapping[str, Team]) -> dict[str, Any]:
        section = self.mapping(value, "routing", ("default_team", "by_suite", "by_owner"))
        default = self.team_name(section.get("default_team", next(iter(teams))), "routing.default_team", teams)
        routes: dict[str, Any] = {"default_team": default or next(iter(teams))}
        for kind in ("by_suite", "by_owner"):
            table = self.mapping(section.get(kind), f"routing.{kind}")
            resolved = {
                (str(k).lower() if kind == "by_owner" else str(k)): self.team_name(v, f"routing.{kind}.{k}", teams)
                for k, v in table.items()
            }
            routes[kind] = {k: v for k, v in resolved.items() if v}
        return routes

    def escalation(self, value: Any, teams: Mapping[str, Team], default_team: str) -> dict[str, Any]:
        """Levels (who) and per-severity steps (when).

        `steps: {SEVERITY: [minutes, ...]}` gives level 1, 2, ... their times per severity. The
        older form (`escalate_after_minutes`, `severities`, a level's `after_minutes`) is still
        read: one timer for the listed severities. Without either, each severity escalates on
        the runbook's response time (CRITICAL 15 min, HIGH 30 min, MEDIUM 2 h, LOW 24 h), level n
        after n times it.
        """
        section = self.mapping(value, "escalation", ("steps", "escalate_after_minutes", "severities", "levels"))
        legacy: list[str] = [k for k in ("escalate_after_minutes", "severities") if k in section]
        raw_levels = section.get("levels")
        if raw_levels is not None and not isinstance(raw_levels, list):
            self.problem("escalation.levels", "expected a list of levels", "write `- team: sre` items")
            raw_levels = []
        legacy += [f"levels.{i}.after_minutes" for i, raw in enumerate(raw_levels or [])
                   if isinstance(raw, dict) and "after_minutes" in raw]
        if "steps" in section and legacy:
            self.problem("escalation.steps", f"given together with {', '.join(legacy)}",
                         "use per-severity `steps` alone (e.g. `steps: {CRITICAL: [15, 60], HIGH: [30, 120]}`)")
        after = self.number(section, "escalation", "escalate_after_minutes", 15, minimum=1)
        levels = self.levels(raw_levels, teams, after) if raw_levels is not None else _default_levels(after if legacy else None, default_team)
        if "steps" in section:
            steps = self.steps(section.get("steps"))
        elif legacy:
            severities = section.get("severities", ["HIGH", "CRITICAL"]) or []
            bad = [s for s in severities if s not in SEVERITIES]
            if bad:
                self.problem("escalation.severities", f"unknown severities {bad}", f"use any of {', '.join(SEVERITIES)}")
            times = tuple(level.after_minutes or after for level in levels)
            steps = {s: times for s in severities if s in SEVERITIES}
        else:
            steps = {s: tuple(m * n for n in range(1, len(levels) + 1)) for s, m in RUNBOOK_RESPONSE_MINUTES.items()}
        return {"steps": steps, "levels": levels}

    def levels(self, raw_levels: list[Any], teams: Mapping[str, Team], after: float) -> tuple[EscalationLevel, ...]:
        levels = []
        for index, raw in enumerate(raw_levels):
            key = f"escalation.levels.{index}"
            spec = self.mapping(raw, key, ("team", "channels", "after_minutes"))
            team = self.team_name(spec.get("team"), f"{key}.team", teams)
            minutes = self.number(spec, key, "after_minutes", after * (index + 1), minimum=1) if "after_minutes" in spec else None
            channels = self.channels(spec.get("channels", ["pagerduty", "email", "slack"]), f"{key}.channels")
            if team:
                levels.append(EscalationLevel(index + 1, minutes, team, channels))
        return tuple(levels)

    def steps(self, value: Any) -> dict[str, tuple[float, ...]]:
        """`{SEVERITY: [minutes, ...]}`: rising positive minutes per severity; a severity left out never escalates."""
        section = self.mapping(value, "escalation.steps", SEVERITIES)
        steps: dict[str, tuple[float, ...]] = {}
        for severity, raw in section.items():
            key = f"escalation.steps.{severity}"
            items = raw if isinstance(raw, list) else [raw]
            good = [m for m in items if not isinstance(m, bool) and isinstance(m, int | float) and m >= 1]
            if len(good) != len(items) or any(b <= a for a, b in zip(good, good[1:], strict=False)):
                self.problem(key, f"{raw!r} is not a list of rising minutes >= 1",
                             f"e.g. `{severity}: [{RUNBOOK_RESPONSE_MINUTES.get(severity, 60):g}, 120]` (level 1, level 2)")
                continue
            if severity in SEVERITIES:
                steps[str(severity)] = tuple(float(m) for m in good)
        return steps


def current_policy(path: Path | None = None) -> Policy:
    """The policy for running code: a broken file is logged and the runbook's defaults are used,
    so a typo in alerting.yaml never loses a run's results or its alerts (check it with
    `python manage.py send_alerts --check-config`)."""
    try:
        return load_policy(path)
    except PolicyError as exc:
        _log.error("%s Using the runbook's default policy until it is fixed.", exc)
        return Policy(levels=_default_levels(None, "default"))
