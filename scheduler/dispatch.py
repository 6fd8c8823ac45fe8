"""Claiming work in the store and closing it: each claim is one transaction that takes the suite's
lease, claims the schedule tick or the request, and creates the RUNNING run row under the lease.

A crash after the claim leaves a RUNNING run named by an expiring lease, which the next
scheduler (or this one restarted) aborts and runs again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from engine.model import Suite
from engine.results import RuleResult, SuiteReport, Verdict
from ops import run_events
from ops.cron import DueWork
from scheduler.worker import SuiteJob
from store import db, results, scheduling

log = logging.getLogger("scheduler")


def claim_due(work: DueWork, suite: Suite, holder: str, lease_seconds: float) -> SuiteJob | None:
    """Claim a due tick of a suite, or None when another scheduler has it or holds the suite."""
    with db.write() as conn:
        if not scheduling.take_lease(conn, suite.name, holder, lease_seconds):
            return None
        if not scheduling.claim_schedule(conn, suite.name, work.due_at, holder):
            scheduling.release_lease(conn, suite.name, holder)
            return None
        run_id = results.start_run(conn, suite.name, suite.source, "schedule", due_at=work.due_at,
                                   requested_by="scheduler", worker=holder)
        scheduling.bind_lease(conn, suite.name, holder, run_id)
        scheduling.bind_claim(conn, suite.name, work.due_at, run_id)
    return SuiteJob(suite=suite.name, run_id=run_id, trigger="schedule", worker=holder,
                    requested_by="scheduler", due_at=work.due_at, rule_names=work.rule_names)


def claim_request(suites: Sequence[Suite], holder: str, lease_seconds: float,
                  busy: set[str]) -> SuiteJob | None:
    """Claim the oldest pending request whose suite is free; a request for an unknown suite fails."""
    by_name = {s.name: s for s in suites}
    with db.write() as conn:
        for request in scheduling.pending_requests(conn):
            suite = by_name.get(request.suite)
            if suite is None:
                scheduling.finish_request(conn, request.id, failed=True, error=_unknown_suite(request.suite))
                log.error("request #%s: %s", request.id, _unknown_suite(request.suite))
                continue
            if request.suite in busy or not scheduling.take_lease(conn, suite.name, holder, lease_seconds):
                continue
            run_id = results.start_run(conn, suite.name, suite.source, "request",
                                       requested_by=request.requested_by, worker=holder)
            scheduling.bind_lease(conn, suite.name, holder, run_id)
            scheduling.claim_request(conn, request.id, holder, run_id)
            return SuiteJob(suite=suite.name, run_id=run_id, trigger="request", worker=holder,
                            requested_by=request.requested_by, request_id=request.id,
                            rule_names=(request.rule_name,) if request.rule_name else None)
    return None


def _unknown_suite(name: str) -> str:
    return (f"suite {name!r} is not loaded or is disabled. "
            "Hint: load it with `python manage.py load_dq_rules rules/` and request the run again.")


def finish(job: SuiteJob, suite: Suite, holder: str, error: str | None) -> None:
    """Close a job whose child has ended: record ERROR if it did not finish the run, free the lease."""
    with db.write() as conn:
        state = scheduling.run_state(conn, job.run_id)
        if error is not None and state is not None and state.status == "RUNNING":
            report = error_report(job, suite, state.started_at, scheduling.db_now(conn), error)
            if report.results:
                results.finish_run(conn, job.run_id, report, suite)
            else:
                scheduling.fail_run(conn, job.run_id, error)
        if job.request_id is not None:
            scheduling.finish_request(conn, job.request_id, failed=error is not None, error=error)
        scheduling.release_lease(conn, job.suite, holder)
    # The check process recorded the run; its lines, counters and lineage come from here.
    run_events.announce_stored(job.run_id, suite)


def abandon(job: SuiteJob, holder: str, reason: str) -> None:
    """Abort a job's run (the scheduler is stopping) so that it runs again on the next start."""
    with db.write() as conn:
        scheduling.abandon_run(conn, job.run_id, reason)
        scheduling.release_lease(conn, job.suite, holder)


def error_report(job: SuiteJob, suite: Suite, started: datetime, finished: datetime, error: str) -> SuiteReport:
    """A report with every rule of the job ERROR for `error` (timeout, crashed check process)."""
    wanted = set(job.rule_names) if job.rule_names else {r.name for r in suite.rules if r.enabled}
    rows = tuple(
        RuleResult(rule_name=rule.name, check_type=rule.check, severity=rule.severity.value,
                   status=Verdict.ERROR, message=error)
        for rule in suite.rules if rule.name in wanted
    )
    return SuiteReport(suite=suite.name, source=suite.source, started_at=started, finished_at=finished,
                       results=rows, error=error)


def timed_out_message(seconds: float) -> str:
    return (f"the suite ran longer than {seconds:g}s and was stopped. "
            "Hint: raise DQ_SUITE_TIMEOUT_SECONDS, enable sampling on large tables, or check the "
            "source for locks and slow queries.")
