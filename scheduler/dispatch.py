"""Claiming work in the store and closing it: each claim is one transaction that checks this
scheduler's registration, takes the suite's lease (a new generation: the fencing token), claims
the schedule tick or the request, and creates the RUNNING run row under the lease.

A crash after the claim leaves a RUNNING run named by an expiring lease, which the next
scheduler (or this one restarted) aborts and runs again. Every later write about the job
carries the registration epoch and the lease generation; the store refuses stale ones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from engine.model import Suite
from engine.results import RuleResult, SuiteReport, Verdict
from ops import run_events
from ops.cron import DueWork
from scheduler.worker import SuiteJob
from store import db, results, scheduling
from store.fencing import check_lease, check_registration

log = logging.getLogger("scheduler")


@dataclass(frozen=True)
class Holder:
    """Who claims: the scheduler id, its registration epoch (None: unfenced, tests), lease and timeout."""

    id: str
    lease_seconds: float
    epoch: int | None = None
    timeout_seconds: float | None = None

    def check(self, conn: db.Connection) -> None:
        if self.epoch is not None:
            check_registration(conn, self.id, self.epoch)


def _holder(holder: str | Holder, lease_seconds: float | None) -> Holder:
    return holder if isinstance(holder, Holder) else Holder(holder, lease_seconds or 60.0)


def claim_due(work: DueWork, suite: Suite, holder: str | Holder, lease_seconds: float | None = None) -> SuiteJob | None:
    """Claim a due tick of a suite, or None when another scheduler has it or holds the suite."""
    who = _holder(holder, lease_seconds)
    with db.write() as conn:
        who.check(conn)
        generation = scheduling.take_lease(conn, suite.name, who.id, who.lease_seconds)
        if generation is None:
            return None
        if not scheduling.claim_schedule(conn, suite.name, work.due_at, who.id):
            scheduling.release_lease(conn, suite.name, who.id, generation)
            return None
        run_id = results.start_run(conn, suite.name, suite.source, "schedule", due_at=work.due_at,
                                   requested_by="scheduler", worker=who.id, timeout_seconds=_deadline(who),
                                   merged_ticks=work.merged_ticks, first_due_at=work.first_due_at)
        scheduling.bind_lease(conn, suite.name, who.id, run_id)
        scheduling.bind_claim(conn, suite.name, work.due_at, run_id)
    if work.merged_ticks:
        log.warning("suite %r: %d missed tick(s) since %s merged into run #%s for %s", suite.name,
                    work.merged_ticks, work.first_due_at.isoformat() if work.first_due_at else "?", run_id,
                    work.due_at.isoformat())
    return SuiteJob(suite=suite.name, run_id=run_id, trigger="schedule", worker=who.id,
                    requested_by="scheduler", due_at=work.due_at, rule_names=work.rule_names,
                    generation=generation, source=suite.source, timeout_seconds=who.timeout_seconds)


def _deadline(who: Holder) -> float | None:
    # The run row's deadline: the timeout, then the lease, before anyone may call the owner lost.
    return None if who.timeout_seconds is None else who.timeout_seconds + who.lease_seconds


def claim_request(suites: Sequence[Suite], holder: str | Holder, lease_seconds: float | None = None,
                  busy: set[str] | None = None, allowed: Callable[[Suite], bool] | None = None) -> SuiteJob | None:
    """Claim the oldest pending request whose suite is free (and whose source may take another run).

    Identical pending requests (same suite and rule) are claimed with it: one run serves them all.
    A request for an unknown suite fails with a reason.
    """
    who = _holder(holder, lease_seconds)
    busy = busy or set()
    by_name = {s.name: s for s in suites}
    with db.write() as conn:
        who.check(conn)
        for request in scheduling.pending_requests(conn, exclude=sorted(busy)):
            suite = by_name.get(request.suite)
            if suite is None:
                scheduling.finish_request(conn, request.id, failed=True, error=_unknown_suite(request.suite))
                log.error("request #%s: %s", request.id, _unknown_suite(request.suite))
                continue
            if request.suite in busy or (allowed is not None and not allowed(suite)):
                continue
            generation = scheduling.take_lease(conn, suite.name, who.id, who.lease_seconds)
            if generation is None:
                continue
            run_id = results.start_run(conn, suite.name, suite.source, "request", requested_by=request.requested_by,
                                       worker=who.id, timeout_seconds=_deadline(who))
            scheduling.bind_lease(conn, suite.name, who.id, run_id)
            twins = scheduling.claim_request(conn, request, who.id, run_id)
            if twins:
                log.info("request #%s: %d identical pending request(s) coalesced into run #%s", request.id,
                         len(twins), run_id)
            return SuiteJob(suite=suite.name, run_id=run_id, trigger="request", worker=who.id,
                            requested_by=request.requested_by, request_id=request.id,
                            rule_names=(request.rule_name,) if request.rule_name else None,
                            generation=generation, source=suite.source, timeout_seconds=who.timeout_seconds)
    return None


def _unknown_suite(name: str) -> str:
    return (f"suite {name!r} is not loaded or is disabled. "
            "Hint: load it with `python manage.py load_dq_rules rules/` and request the run again.")


def finish(job: SuiteJob, suite: Suite, holder: str | Holder, error: str | None) -> None:
    """Close a job whose child has ended: record ERROR if it did not finish the run, free the lease.

    Refused (FenceLost) when this scheduler's registration or the job's lease was taken over.
    """
    who = _holder(holder, None)
    with db.write() as conn:
        who.check(conn)
        lease = job.lease()
        if lease is not None:
            check_lease(conn, lease)
        state = scheduling.run_state(conn, job.run_id)
        if error is not None and state is not None and state.status == "RUNNING":
            report = error_report(job, suite, state.started_at, scheduling.db_now(conn), error)
            if report.results:
                results.finish_run(conn, job.run_id, report, suite)
            else:
                scheduling.fail_run(conn, job.run_id, error)
        if job.request_id is not None:
            scheduling.finish_requests(conn, job.run_id, failed=error is not None, error=error)
        scheduling.release_lease(conn, job.suite, who.id, job.generation)
    # The check process recorded the run; its lines, counters and lineage come from here.
    run_events.announce_stored(job.run_id, suite)


def abandon(job: SuiteJob, holder: str | Holder, reason: str) -> None:
    """Abort a job's run (the scheduler is stopping) so that it runs again on the next start."""
    who = _holder(holder, None)
    with db.write() as conn:
        who.check(conn)
        scheduling.abandon_run(conn, job.run_id, reason)
        scheduling.release_lease(conn, job.suite, who.id, job.generation)


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
