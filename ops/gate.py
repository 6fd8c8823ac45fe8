"""The DQ gate: does a suite's latest complete evaluation let the pipeline continue, and did a bypass decide it?

Blocking = a rule of a blocking severity that FAILED or could not run (ERROR). HIGH and CRITICAL
always block; config/dq.yaml may add severities, never remove these. The gate judges the newest
complete run of the suite (store.gate_reads), never a partial `--rule-name` run. Overrides
(`--bypass`, `strict_mode: false`, `bypass_tables`, `enabled: false`) are requests, not
permissions: they count only while the store holds an approved, unexpired, untampered bypass
for the suite (store.bypass.honoured_bypass). Every decision writes one audit row naming any
configuration that differs from the defaults; the gate's clock ignores DQ_NOW outside tests.
Before deciding, it refuses (exit 2) when the hash-chained audit log is broken or a result,
bypass or approval it relies on fails its signature (store.audit.records_intact).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection

import clock
import configfile
import settings
from configfile import key
from ops.errors import OpsError
from store import approval_matrix, audit, db, gate_reads
from store import bypass as bypass_store

EXIT_PASS, EXIT_BLOCKED, EXIT_NOT_RUN = 0, 1, 2
SEVERITIES = ("INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL")
DEFAULT_SEVERITIES = gate_reads.ALWAYS_BLOCKING
BLOCKING_VERDICTS = gate_reads.BLOCKING_VERDICTS
COMPLETE_RUN, FRESH_RUN = "complete run", "fresh run"  # how the gate got its evaluation


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

    @property
    def effective_severities(self) -> tuple[str, ...]:
        """What blocks: the configured severities plus HIGH and CRITICAL, which nothing removes."""
        wanted = set(self.blocking_severities) | set(DEFAULT_SEVERITIES)
        return tuple(s for s in SEVERITIES if s in wanted)

    def deviations(self) -> list[str]:
        """Every way this configuration differs from the defaults, in words for the output and the audit log."""
        found = []
        if self.file is not None and Path(self.file).resolve() != config_file().resolve():
            found.append(f"--config {self.file} (not the default {config_file()})")
        if not self.enabled:
            found.append("dq.enabled: false (asks to bypass every suite; honoured only with an approved bypass)")
        if not self.strict_mode:
            found.append("dq.strict_mode: false (asks to bypass every suite; honoured only with an approved bypass)")
        if self.bypass_tables:
            found.append(f"dq.bypass_tables: {list(self.bypass_tables)} (honoured only with an approved bypass)")
        asked = set(self.blocking_severities)
        added = [s for s in SEVERITIES if s in asked - set(DEFAULT_SEVERITIES)]
        dropped = [s for s in DEFAULT_SEVERITIES if s not in asked]
        if added:
            found.append(f"dq.blocking_severities adds {', '.join(added)}")
        if dropped:
            found.append(
                f"dq.blocking_severities {list(self.blocking_severities)} cannot remove {', '.join(dropped)}: "
                "HIGH and CRITICAL always block"
            )
        return found

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
        for r in gate_reads.blocking_failures(run, config.effective_severities)
    )


def deviations(config: GateConfig) -> list[str]:
    """The configuration's deviations from the defaults, plus any clock override."""
    found = config.deviations()
    note = clock.override_note()
    if note:
        found.append(note)
    return found


def records_intact(conn: Connection, suite: str, run_id: int, terms: bypass_store.SuiteTerms) -> audit.Integrity:
    """THE one place the gate asks whether the records it relies on are intact (store.audit.records_intact).

    The hash-chained audit log, the signatures of the judged run's results and of the suite's
    pending and active bypasses and their approvals, and the table's signed classes row
    (store.table_classes). Any reason refuses the decision; warnings are printed.
    """
    found = audit.records_intact(conn, run_id=run_id, suite=suite)
    return audit.Integrity(tuple(terms.record_problems) + found.reasons, found.warnings)


def decide(
    suite: str, run: gate_reads.RunRow, config: GateConfig, *, bypass_flag: bool, actor: str,
    now: datetime | None = None, evaluation: str = COMPLETE_RUN,
) -> GateDecision:
    """Decide from the suite's complete evaluation; every decision is recorded in the audit log."""
    now = now or clock.trusted_utcnow()
    severities = config.effective_severities
    blocking = blocking_results(run, config)
    with db.read() as conn:
        terms = bypass_store.suite_terms(conn, suite)
        integrity = records_intact(conn, suite, run.run_id, terms)
    overrides = (["--bypass"] if bypass_flag else []) + config.overrides_for(suite, terms.table_name)
    changed = deviations(config)
    details = {
        "suite": suite, "table": terms.table_name, "run_id": run.run_id, "evaluation": evaluation,
        "overrides": overrides, "blocking": [b.rule_name for b in blocking], "severities": list(severities),
        "deviations": changed,
    }
    head = f"DQ gate {suite} (run #{run.run_id}, {run.status}, started {run.started_at:%Y-%m-%d %H:%M:%S} UTC)"
    notes = [f"Gate configuration differs from the defaults: {d}." for d in changed]
    notes += [f"WARNING: {w}." for w in integrity.warnings]
    if not integrity.ok:
        reason = "; ".join(integrity.reasons)
        lines = [*notes, f"{head}: REFUSED - records are not intact: {reason}.",
                 "Hint: run `python manage.py audit verify`; restore the store from a backup or ask the store's "
                 "owner; the gate cannot decide on edited records."]
        _audit(actor, "gate.refused", suite, reason=reason, **details)
        return GateDecision(suite, run.run_id, EXIT_NOT_RUN, blocking, tuple(overrides), None, reason, tuple(lines))
    if not blocking:
        lines = [*notes, f"{head}: PASS - no blocking rule ({'/'.join(severities)}) failed."]
        _audit(actor, "gate.passed", suite, **details)
        ended = bypass_store.end_passed(suite, now, actor=actor, blocking=severities)
        lines += [f"Bypass #{i} ended: {suite} passes again, so the DQ gate is enforced again." for i in ended]
        return GateDecision(suite, run.run_id, EXIT_PASS, (), tuple(overrides), None, None, tuple(lines))
    lines = [*notes, f"{head}: {len(blocking)} blocking rule(s) failed:"]
    lines += [f"  - {b.rule_name} [{b.severity}] {b.status}: {b.message}" for b in blocking]
    if not overrides:
        honoured = bypass_store.honoured_bypass(suite, now, blocking=severities)
        if honoured.request is not None:
            lines.append(
                f"Note: bypass #{honoured.request.id} is approved for {suite}; the pipeline did not ask for it "
                "(pass --bypass or list the suite in dq.yaml bypass_tables to use it)."
            )
        lines.append("FAIL - blocked by data quality.")
        _audit(actor, "gate.blocked", suite, **details)
        return GateDecision(suite, run.run_id, EXIT_BLOCKED, blocking, (), None, None, tuple(lines))
    return _with_override(suite, run, blocking, overrides, lines, actor, now, details, severities)


def _audit(actor: str, action: str, entity_id: str, **details: object) -> None:
    with db.write() as conn:
        audit.record(conn, actor, action, "gate", entity_id, **details)


def _with_override(
    suite: str, run: gate_reads.RunRow, blocking: tuple[Blocking, ...], overrides: list[str],
    lines: list[str], actor: str, now: datetime, details: dict[str, Any], severities: tuple[str, ...],
) -> GateDecision:
    honoured = bypass_store.honoured_bypass(suite, now, blocking=severities)
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
            audit.record(conn, actor, "gate.blocked", "gate", suite, reason=refusal, **details)
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


def latest_or_run(suite: str, *, max_age_minutes: float | None, actor: str,
                  timeout_seconds: float | None = None) -> gate_reads.RunRow:
    """The newest complete run no older than max_age, else a fresh run of the suite."""
    return latest_or_run_how(suite, max_age_minutes=max_age_minutes, actor=actor, timeout_seconds=timeout_seconds)[0]


def latest_or_run_how(suite: str, *, max_age_minutes: float | None, actor: str,
                      timeout_seconds: float | None = None) -> tuple[gate_reads.RunRow, str]:
    """latest_or_run, and whether the run was read (COMPLETE_RUN) or made now (FRESH_RUN)."""
    if max_age_minutes is not None:
        since = clock.trusted_utcnow() - timedelta(minutes=max_age_minutes)
        run = gate_reads.latest_complete_run(suite, since=since)
        if run is not None:
            return run, COMPLETE_RUN
    return run_now(suite, actor, timeout_seconds), FRESH_RUN


def run_now(suite: str, actor: str, timeout_seconds: float | None = None) -> gate_reads.RunRow:
    from ops.run_checks import (
        run_suite,  # the lead's use case; imported late to keep this module light
    )

    summary = run_suite(suite, trigger="gate", requested_by=actor, timeout_seconds=timeout_seconds)
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
    config: GateConfig | None = None, actor: str = "dq_gate", timeout_seconds: float | None = None,
) -> GateDecision:
    """Run (or read) the suite and decide; SuiteNotRun when no verdict can be had.

    `timeout_seconds` (default DQ_SUITE_TIMEOUT_SECONDS) bounds a fresh run's reads, in the source too.
    """
    config = config or load_config()
    run, evaluation = latest_or_run_how(suite, max_age_minutes=max_age_minutes, actor=actor,
                                        timeout_seconds=timeout_seconds)
    if run.error:
        _audit(actor, "gate.not_run", suite, suite=suite, run_id=run.run_id, evaluation=evaluation, error=run.error,
               deviations=deviations(config))
        raise SuiteNotRun(f"suite {suite}'s run #{run.run_id} could not run: {run.error}")
    return decide(suite, run, config, bypass_flag=bypass_flag, actor=actor, evaluation=evaluation)
