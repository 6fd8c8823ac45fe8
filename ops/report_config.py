"""config/reports.yaml: which reports the scheduler delivers on which cron, and the SLA notices' terms.

Read by configfile.load into the declared schema `ReportsFile` (line numbers from engine/yamlsource.py,
the manifests' reader); every problem names the file, the line, the key and the fix. A missing file
means the runbook's defaults.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from croniter import croniter

import configfile
import settings
from configfile import key
from ops.errors import ReportConfigError

KINDS = ("daily", "weekly")
SLA_KPIS = ("success_rate", "critical_pass", "high_pass", "freshness", "availability", "alert_response")


@dataclass(frozen=True)
class ReportSpec:
    name: str
    kind: str  # daily | weekly
    schedule: str  # cron, in ReportsConfig.timezone
    to: tuple[str, ...]  # teams of config/alerting.yaml
    enabled: bool = True


@dataclass(frozen=True)
class SlaSpec:
    kpis: tuple[str, ...] = SLA_KPIS
    for_minutes: float = 15.0
    window_hours: float = 24.0
    to: tuple[str, ...] = ()
    enabled: bool = True


@dataclass(frozen=True)
class ReportsConfig:
    timezone: str = "UTC"
    reports: tuple[ReportSpec, ...] = (
        ReportSpec("daily_health_check", "daily", "0 9 * * *", ()),
        ReportSpec("weekly_rule_review", "weekly", "0 10 * * 1", ()),
    )
    sla: SlaSpec = field(default_factory=SlaSpec)
    file: str | None = None


def config_file() -> Path:
    return settings.get("DQ_CONFIG_DIR") / "reports.yaml"


def load(path: Path | None = None, teams: Mapping[str, Any] | None = None) -> ReportsConfig:
    """The reports configuration; `teams` (the alerting policy's) checks the recipients exist."""
    path = path or config_file()
    if not path.is_file():
        return ReportsConfig()
    parsed = configfile.load(path, ReportsFile, error=ReportConfigError, against=_recipients(teams))
    reports = tuple(ReportSpec(name, r.kind, r.schedule, r.to, r.enabled) for name, r in parsed.reports.items())
    sla = SlaSpec(parsed.sla.kpis, parsed.sla.for_minutes, parsed.sla.window_hours, parsed.sla.to, parsed.sla.enabled)
    return ReportsConfig(parsed.timezone, reports, sla, str(path))


# --- the file's schema -----------------------------------------------------------------------


def _cron(expression: str) -> Iterator[tuple[str, str, str]]:
    if not croniter.is_valid(expression):
        yield ("", f"{expression!r} is not a valid cron expression", 'write five fields, e.g. "0 9 * * *" for 9 AM every day')


def _zone(name: str) -> Iterator[tuple[str, str, str]]:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        yield ("", f"unknown time zone {name!r}", "use an IANA name such as UTC or Europe/Berlin")


@dataclass(frozen=True)
class ReportEntry:
    kind: str = key(choices=KINDS, example="kind: daily")
    schedule: str = key(check=_cron, example='schedule: "0 9 * * *"')
    to: tuple[str, ...] = key((), example="to: [data-eng]")
    enabled: bool = True


@dataclass(frozen=True)
class SlaEntry:
    for_minutes: float = key(15.0, minimum=0, maximum=10_000, example="for_minutes: 15")
    window_hours: float = key(24.0, minimum=0, maximum=10_000, example="window_hours: 24")
    to: tuple[str, ...] = key((), example="to: [data-eng, management]")
    kpis: tuple[str, ...] = key(SLA_KPIS, choices=SLA_KPIS, example="kpis: [success_rate, critical_pass]")
    enabled: bool = True


@dataclass(frozen=True)
class ReportsFile:
    """config/reports.yaml."""

    timezone: str = key("UTC", check=_zone, example="timezone: Europe/Berlin")
    reports: Mapping[str, ReportEntry] = key({  # the runbook's two; `reports: {}` (or an empty `reports:`) for none
        "daily_health_check": ReportEntry("daily", "0 9 * * *"),
        "weekly_rule_review": ReportEntry("weekly", "0 10 * * 1"),
    })
    sla: SlaEntry = key(SlaEntry())


def _recipients(teams: Mapping[str, Any] | None) -> Callable[[ReportsFile], Iterator[tuple[str, str, str]]]:
    """Every recipient is a team of config/alerting.yaml (unchecked when `teams` is None)."""
    def check(parsed: ReportsFile) -> Iterator[tuple[str, str, str]]:
        if teams is None:
            return
        hint = f"use teams of config/alerting.yaml ({', '.join(sorted(teams)) or 'none'})"
        lists = [(f"reports.{name}.to", spec.to) for name, spec in parsed.reports.items()]
        for where, names in [*lists, ("sla.to", parsed.sla.to)]:
            unknown = [n for n in names if n not in teams]
            if unknown:
                yield (where, f"unknown team(s) {unknown}", hint)

    return check
