"""The DQ gate: does a suite's latest result let the pipeline continue, and did a bypass decide it?

Blocking = a rule of a blocking severity (config/dq.yaml, default HIGH and CRITICAL) that FAILED
or could not run (ERROR). Overrides (`--bypass`, `strict_mode: false`, `bypass_tables`,
`enabled: false`) are requests, not permissions: they count only while the store holds an
approved, unexpired, untampered bypass for the suite (store.bypass.honoured_bypass).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import clock
import configfile
import settings
from configfile import key
from ops.errors import OpsError
from store import approval_matrix, audit, db, gate_reads
from store import bypass as bypass_store

EXIT_PASS, EXIT_BLOCKED, EXIT_NOT_RUN = 0, 1, 2
SEVERITIES = ("INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL")
BLOCKING_VERDICTS = ("FAILED", "ERROR")


class GateConfigError(OpsError, configfile.ConfigFileError):
    """config/dq.yaml is missing or malformed."""


@dataclass(frozen=True)
class GateSection:
    """The `dq:` section of config/dq.yaml (docs/gate.md)."""

    enabled: bool = True
    strict_mode: bool = True
    bypass_tables: tuple[str, ...] = key((), example="bypass_tables: [silver.orders]")
    blocking_severities: tuple[str, ...] = key(
        ("HIGH", "CRITICAL"), choices=SEVERITIES, case="upper", min_items=1, unique=True,
        example="blocking_severities: [HIGH, CRITICAL]",
    )


@dataclass(frozen=True)
class DqFile:
    """config/dq.yaml."""

    dq: GateSection = key(example="dq: {strict_mode: true}")


class SuiteNotRun(Exception):
    """The suite could not be run or read; the gate cannot decide."""


@dataclass(frozen=True)
class GateConfig:
    enabled: bool = True
    strict_mode: bool = True
    bypass_tables: tuple[str, ...] = ()
    blocking_severities: tuple[str, ...] = ("HIGH", "CRITICAL")
    file: str | None = None

    def overrides_for(self, suite: str, table: str) -> list[str]:
        """The config's requests to let this suite through (option B of the runbook)."""
        asked = []
        if not self.enabled:
            asked.append("dq.yaml enabled: false")
        if not self.strict_mode:
            asked.append("dq.yaml strict_mode: false")
        if suite in self.bypass_tables or table in self.bypass_tables:
            asked.append("dq.yaml bypass_tables")
        return asked


@dataclass(frozen=True)
class Blocking:
    rule_name: str
    severity: str
    status: str
    message: str


@dataclass(frozen=True)
class GateDecision:
    suite: str
    run_id: int | None
    exit_code: int
    blocking: tuple[Blocking, ...]
    overrides: tuple[str, ...]  # what asked to let it through
    bypass_id: int | None  # the bypass that let it through
    refusal: str | None  # why an override was not honoured
    lines: tuple[str, ...]  # what the gate prints

    @property
    def passed(self) -> bool:
        return self.exit_code == EXIT_PASS


def config_file() -> Path:
    return settings.get("DQ_CONFIG_DIR") / "dq.yaml"


def load_config(path: Path | None = None) -> GateConfig:
    """config/dq.yaml (or --config); GateConfigError names the file, line and key."""
    path = path or config_file()
    if not path.is_file():
        raise configfile.missing_file(path, "pass --config or create config/dq.yaml (see docs/gate.md)", GateConfigError)
    section = configfile.load(path, DqFile, error=GateConfigError).dq
    return GateConfig(
        enabled=section.enabled, strict_mode=section.strict_mode, bypass_tables=section.bypass_tables,
        blocking_severities=section.blocking_severities, file=str(path),
    )


def validate_startup(dq_path: Path | None = None) -> None:
    """Check config/dq.yaml and config/approval_matrix.yaml at start; raises naming file and key."""
    load_config(dq_path)
    approval_matrix.load()


# --- deciding ------------------------------------------------------------------------------


def blocking_results(run: gate_reads.RunRow, config: GateConfig) -> tuple[Blocking, ...]:
    return tuple(
        Blocking(r.rule_name, r.severity, r.status, r.message)
        for r in run.results
        if r.status in BLOCKING_VERDICTS and r.severity.upper() in config.blocking_severities
    )


def decide(
    suite: str, run: gate_reads.RunRow, config: GateConfig, *, bypass_flag: bool, actor: str,
    now: datetime | None = None,
) -> GateDecision:
    """Decide from one finished run; a pass because of a bypass is recorded in the audit log."""
    now = now or clock.utcnow()
    blocking = blocking_results(run, config)
    with db.read() as conn:
        terms = bypass_store.suite_terms(conn, suite)
    overrides = (["--bypass"] if bypass_flag else []) + config.overrides_for(suite, terms.table_name)
    head = f"DQ gate {suite} (run #{run.run_id}, {run.status}, started {run.started_at:%Y-%m-%d %H:%M:%S} UTC)"
    if not blocking:
        lines = [f"{head}: PASS - no blocking rule ({'/'.join(config.blocking_severities)}) failed."]
        return GateDecision(suite, run.run_id, EXIT_PASS, (), tuple(overrides), None, None, tuple(lines))
    lines = [f"{head}: {len(blocking)} blocking rule(s) failed:"]
    lines += [f"  - {b.rule_name} [{b.severity}] {b.status}: {b.message}" for b in blocking]
    if not overrides:
        honoured = bypass_store.honoured_bypass(suite, now)
        if honoured.request is not None:
            lines.append(
                f"Note: bypass #{honoured.request.id} is approved for {suite}; the pipeline did not ask for it "
                "(pass --bypass or list the suite in dq.yaml bypass_tables to use it)."
            )
        lines.append("FAIL - blocked by data quality.")
        return GateDecision(suite, run.run_id, EXIT_BLOCKED, blocking, (), None, None, tuple(lines))
    return _with_override(suite, terms.table_name, run, blocking, overrides, lines, actor, now)


def _with_override(
    suite: str, table: str, run: gate_reads.RunRow, blocking: tuple[Blocking, ...], overrides: list[str],
    lines: list[str], actor: str, now: datetime,
) -> GateDecision:
    honoured = bypass_store.honoured_bypass(suite, now)
    details = {
        "suite": suite, "table": table, "run_id": run.run_id, "overrides": overrides,
        "blocking": [b.rule_name for b in blocking],
    }
    if honoured.request is None:
        refusal = "; ".join(honoured.problems)
        lines.append(f"Override REFUSED ({', '.join(overrides)}): {refusal}.")
        hint = (
            "fix the data; the failover runbook never allows a bypass here." if honoured.never_allowed
            else "request a bypass on the console's Bypass requests page."
        )
        lines.append(f"FAIL - blocked by data quality. Hint: {hint}")
        with db.write() as conn:
            audit.record(conn, actor, "gate.override_refused", "gate", suite, reason=refusal, **details)
        return GateDecision(suite, run.run_id, EXIT_BLOCKED, blocking, tuple(overrides), None, refusal, tuple(lines))
    request = honoured.request
    left = request.time_left(now)
    banner = "!" * 78
    lines += [
        banner,
        f"!!! PASSING BECAUSE OF BYPASS #{request.id} - DQ GATE NOT ENFORCED FOR {suite}",
        f"!!! approved by {', '.join(request.approvers)}; expires {request.expires_at:%Y-%m-%d %H:%M} UTC "
        f"({hours_minutes(left)} left); incident {request.incident_id} {request.incident_url}",
        f"!!! asked by: {', '.join(overrides)}",
        banner,
    ]
    with db.write() as conn:
        audit.record(conn, actor, "gate.bypassed", "gate", suite, bypass_id=request.id, **details)
        audit.record(conn, actor, "bypass.used_by_gate", "bypass", request.id, **details)
    return GateDecision(suite, run.run_id, EXIT_PASS, blocking, tuple(overrides), request.id, None, tuple(lines))


def hours_minutes(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min"


# --- running -------------------------------------------------------------------------------


def latest_or_run(suite: str, *, max_age_minutes: float | None, actor: str) -> gate_reads.RunRow:
    """The latest finished run no older than max_age, else a fresh run of the suite."""
    if max_age_minutes is not None:
        since = clock.utcnow() - timedelta(minutes=max_age_minutes)
        run = gate_reads.latest_run(suite, since=since)
        if run is not None:
            return run
    return run_now(suite, actor)


def run_now(suite: str, actor: str) -> gate_reads.RunRow:
    from ops.run_checks import (
        run_suite,  # the lead's use case; imported late to keep this module light
    )

    summary = run_suite(suite, trigger="gate", requested_by=actor)
    report = summary.report
    if report.error:
        raise SuiteNotRun(f"suite {suite} could not run: {report.error}")
    results = tuple(
        gate_reads.ResultRow(r.rule_name, str(r.severity), str(r.status), r.message) for r in report.results
    )
    return gate_reads.RunRow(
        summary.run_id or 0, suite, str(report.status), report.started_at, report.finished_at, None, results
    )


def run_gate(
    suite: str, *, bypass_flag: bool = False, max_age_minutes: float | None = None,
    config: GateConfig | None = None, actor: str = "dq_gate",
) -> GateDecision:
    """Run (or read) the suite and decide; SuiteNotRun when no verdict can be had."""
    config = config or load_config()
    run = latest_or_run(suite, max_age_minutes=max_age_minutes, actor=actor)
    if run.error:
        raise SuiteNotRun(f"suite {suite}'s run #{run.run_id} could not run: {run.error}")
    return decide(suite, run, config, bypass_flag=bypass_flag, actor=actor)
