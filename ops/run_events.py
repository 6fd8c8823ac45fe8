"""What a recorded run tells the outside: one log line for the run and one per failed or errored
rule (the runbook's greps), this process's counters and histograms, and an OpenLineage event.

`run_suite` announces the runs it records itself; the scheduler announces its check processes'
runs from the store (`announce_stored`), so every line is written by the process that owns the log.
"""

from __future__ import annotations

import logging

import settings
from engine.model import Severity, Suite
from engine.results import SuiteReport, Verdict
from ops import lineage
from store import db, monitoring
from telemetry import counters
from telemetry.logs import CHECK_ERROR, CHECK_FAILED, RUN_FINISHED, SUITE_TIMEOUT, event

_log = logging.getLogger("dq.run")
_LEVEL = {Verdict.ERROR: logging.ERROR, Verdict.FAILED: logging.WARNING}


def _worst_severity(report: SuiteReport) -> str | None:
    """The highest severity among the rules that failed or errored (what `grep -E "CRITICAL|HIGH"` finds)."""
    bad = [Severity(r.severity) for r in report.results if r.status in (Verdict.FAILED, Verdict.ERROR)]
    return max(bad, key=lambda s: s.rank).value if bad else None


def log_run(report: SuiteReport, suite: Suite, run_id: int | None, trigger: str) -> None:
    for result in report.results:
        if result.status is Verdict.ERROR:
            event(_log, logging.ERROR, CHECK_ERROR, result.rule_name, suite=report.suite, severity=result.severity,
                  run_id=run_id, check=result.check_type, source=report.source, table=suite.qualified_table,
                  error=result.message)
        elif result.status is Verdict.FAILED:
            event(_log, logging.WARNING, CHECK_FAILED, result.rule_name, suite=report.suite, severity=result.severity,
                  run_id=run_id, check=result.check_type, source=report.source, table=suite.qualified_table,
                  failing_rows=result.failing_rows, observed=result.observed_value, threshold=result.fail_level,
                  message=result.message)
    if _timed_out(report):
        event(_log, logging.ERROR, SUITE_TIMEOUT, report.suite, run_id=run_id, source=report.source,
              timeout_s=settings.get("DQ_SUITE_TIMEOUT_SECONDS"), error=report.error or next(r.message for r in report.results if r.status is Verdict.ERROR))
    status = report.status
    event(_log, _LEVEL.get(status, logging.INFO), RUN_FINISHED, run_id=run_id, suite=report.suite,
          source=report.source, trigger=trigger, status=status.value, severity=_worst_severity(report),
          rules=len(report.results), passed=report.count(Verdict.PASSED), warned=report.count(Verdict.WARNED),
          failed=report.count(Verdict.FAILED), errors=report.count(Verdict.ERROR), rows_read=report.rows_read,
          duration_s=round(report.duration_ms / 1000, 3), error=report.error)


def _timed_out(report: SuiteReport) -> bool:
    """The run's reads were stopped at its time budget (by us or by the source's statement timeout)."""
    if report.error and "ran longer than" in report.error:
        return True
    errors = [r for r in report.results if r.status is Verdict.ERROR]
    return bool(errors) and all("timeout" in (r.message or "").lower() for r in errors)


def count_run(report: SuiteReport, trigger: str) -> None:
    counters.RUNS.labels(report.suite, trigger, report.status.value).inc()
    counters.RUN_DURATION.labels(report.suite).observe(max(0.0, report.duration_ms / 1000))
    for result in report.results:
        counters.RULE_RESULTS.labels(report.suite, result.severity, result.status.value).inc()
        if result.status in (Verdict.PASSED, Verdict.WARNED, Verdict.FAILED):
            counters.RULE_DURATION.labels(report.suite, result.severity).observe(max(0.0, result.duration_ms / 1000))


def announce(report: SuiteReport, suite: Suite, run_id: int | None, trigger: str, *, background: bool = False) -> None:
    """Log, count and (if configured) emit lineage for one recorded run; never raises.

    `background`: post the lineage event on a thread (the scheduler loop); a CLI run waits for it.
    """
    try:
        log_run(report, suite, run_id, trigger)
        count_run(report, trigger)
        if run_id is not None:
            (lineage.emit_later if background else lineage.emit)(report, suite, run_id)
    except Exception:  # noqa: BLE001 - telling the world about a run never undoes the run
        _log.exception("announcing run #%s of suite %r failed", run_id, suite.name)


def announce_stored(run_id: int, suite: Suite) -> None:
    """Announce a run another process recorded (the scheduler's check processes), read from the store."""
    try:
        with db.read() as conn:
            stored = monitoring.stored_run(conn, run_id)
    except Exception:  # noqa: BLE001 - an unreachable store is logged by the loop already
        _log.exception("run #%s could not be read back for its log lines", run_id)
        return
    if stored is not None and stored.status != "ABORTED":
        announce(stored.report, suite, run_id, stored.trigger, background=True)
