"""config/reports.yaml: which reports the scheduler delivers on which cron, and the SLA notices' terms.

Parsed with line numbers (engine/yamlsource.py, the manifests' reader); every problem names the
file, the line, the key and the fix. A missing file means the runbook's defaults.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from croniter import croniter

import settings
from configfile import MAX_CONFIG_BYTES
from engine.errors import Problem
from engine.yamlsource import LineMap, read_documents
from ops.errors import ReportConfigError

KINDS = ("daily", "weekly")
SLA_KPIS = ("success_rate", "critical_pass", "high_pass", "freshness", "availability", "alert_response")
_REPORT_KEYS = ("kind", "schedule", "to", "enabled")
_TOP_KEYS = ("timezone", "reports", "sla")
_SLA_KEYS = ("for_minutes", "window_hours", "to", "kpis", "enabled")


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
    problems: list[Problem] = []
    documents = read_documents(path, problems, kind="config", max_bytes=MAX_CONFIG_BYTES)
    parser = _Parser(str(path), problems, teams)
    config = parser.config(documents[0] if documents else LineMap())
    if problems:
        raise ReportConfigError(problems)
    return config


@dataclass
class _Parser:
    file: str
    problems: list[Problem]
    teams: Mapping[str, Any] | None

    def add(self, mapping: Any, key: str | None, message: str, hint: str) -> None:
        line = None
        if isinstance(mapping, LineMap):
            line = mapping.key_lines.get(key or "", mapping.line) if key else mapping.line
        self.problems.append(Problem(self.file, line, message, hint, None, key))

    def mapping(self, parent: Any, key: str, value: Any, allowed: tuple[str, ...]) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            self.add(parent, key, f"must be a mapping, got {value!r}", f"write `{key}:` with keys {', '.join(allowed)}")
            return {}
        for k in value:
            if k not in allowed:
                self.add(value, str(k), "unknown key", f"allowed keys are {', '.join(allowed)}")
        return value

    def config(self, document: Any) -> ReportsConfig:
        top = self.mapping(document, "reports.yaml", document, _TOP_KEYS) if document else {}
        timezone = top.get("timezone", "UTC")
        try:
            zoneinfo.ZoneInfo(str(timezone))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            self.add(top, "timezone", f"unknown time zone {timezone!r}", "use an IANA name such as UTC or Europe/Berlin")
        reports = ReportsConfig().reports
        if "reports" in top:
            raw = self.mapping(top, "reports", top["reports"] or {}, tuple(str(k) for k in (top["reports"] or {})))
            reports = tuple(r for r in (self.report(raw, str(n), v) for n, v in raw.items()) if r is not None)
        sla = self.sla(top, top["sla"]) if "sla" in top else SlaSpec()
        return ReportsConfig(str(timezone), reports, sla, self.file)

    def report(self, parent: Any, name: str, value: Any) -> ReportSpec | None:
        spec = self.mapping(parent, name, value, _REPORT_KEYS)
        kind = spec.get("kind")
        if kind not in KINDS:
            self.add(spec or parent, "kind" if spec else name, f"unknown report kind {kind!r}",
                     f"use one of {', '.join(KINDS)} (the `report` command's kinds)")
        schedule = spec.get("schedule")
        if not isinstance(schedule, str) or not croniter.is_valid(schedule):
            self.add(spec or parent, "schedule" if spec else name, f"{schedule!r} is not a valid cron expression",
                     'write five fields, e.g. "0 9 * * *" for 9 AM every day')
        enabled = spec.get("enabled", True)
        if not isinstance(enabled, bool):
            self.add(spec, "enabled", f"must be true or false, got {enabled!r}", "write `enabled: false` to pause it")
        to = self.teams_list(spec, "to")
        if kind not in KINDS or not isinstance(schedule, str) or not croniter.is_valid(schedule):
            return None
        return ReportSpec(name, str(kind), schedule, to, bool(enabled))

    def sla(self, parent: Any, value: Any) -> SlaSpec:
        spec = self.mapping(parent, "sla", value, _SLA_KEYS)
        kpis = spec.get("kpis", list(SLA_KPIS))
        if not isinstance(kpis, list) or any(k not in SLA_KPIS for k in kpis):
            self.add(spec, "kpis", f"unknown KPIs in {kpis!r}", f"use any of {', '.join(SLA_KPIS)}")
            kpis = list(SLA_KPIS)
        numbers = {}
        for key, default in (("for_minutes", 15.0), ("window_hours", 24.0)):
            number = spec.get(key, default)
            if isinstance(number, bool) or not isinstance(number, int | float) or not 0 <= number <= 10_000:
                self.add(spec, key, f"must be a number from 0 to 10000, got {number!r}", f"e.g. `{key}: {default:g}`")
                number = default
            numbers[key] = float(number)
        enabled = spec.get("enabled", True)
        if not isinstance(enabled, bool):
            self.add(spec, "enabled", f"must be true or false, got {enabled!r}", "write `enabled: false` to stop notices")
        return SlaSpec(tuple(kpis), numbers["for_minutes"], numbers["window_hours"], self.teams_list(spec, "to"),
                       enabled is not False)

    def teams_list(self, spec: Mapping[str, Any], key: str) -> tuple[str, ...]:
        value = spec.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.add(spec, key, f"must be a list of team names, got {value!r}", "write e.g. `to: [data-eng]`")
            return ()
        unknown = [v for v in value if self.teams is not None and v not in self.teams]
        if unknown:
            known = ", ".join(sorted(self.teams or {})) or "none"
            self.add(spec, key, f"unknown team(s) {unknown}", f"use teams of config/alerting.yaml ({known})")
        return tuple(v for v in value if v not in unknown)
