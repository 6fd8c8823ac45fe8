"""Running a suite: load its live rules, evaluate in one scan, record the run, enqueue alerts.

The CLI (`run_dq_checks`), the scheduler, the console's "Run now" (through run requests), the
gate and the bypass restore all call `run_suite`. An unexpected engine failure still ends in a
recorded run whose rules are ERROR, never in a RUNNING row nobody closes.
"""

from __future__ import annotations

import itertools
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from types import FrameType

from sqlalchemy.engine import Engine

import clock
import settings
from alerting import enqueue_for_run
from engine import cancel
from engine.evaluate import evaluate_suite
from engine.manifest import load_sources
from engine.model import Source, Suite
from engine.results import RuleResult, SuiteReport, Verdict
from ops import anomaly, run_events
from ops.owners import cancel_reads, repair_orphans
from store import db, scheduling
from store.errors import NotFound
from store.fencing import Lease
from store.results import RecordedRun, finish_run, start_run
from store.rules import live_suite, live_suites

log = logging.getLogger(__name__)
_DRY_RUNS = itertools.count(1)
# After the deadline the reads get this long to come back cancelled before the run is closed without them.
CANCEL_GRACE_SECONDS = 5.0


class Interrupted(BaseException):  # noqa: N818 - a signal, like KeyboardInterrupt, not an error
    """SIGINT or SIGTERM arrived while a run was going on; its run row has been marked ABORTED."""

    def __init__(self, signum: int, run_ids: Sequence[int] = ()) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.run_ids = list(run_ids)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


@contextmanager
def interruptible() -> Iterator[None]:
    """SIGINT and SIGTERM raise Interrupted in the main thread (a hung read runs in another one)."""
    def raise_interrupted(signum: int, _frame: FrameType | None) -> None:
        raise Interrupted(signum)

    previous = {sig: signal.signal(sig, raise_interrupted) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def default_timeout() -> float:
    return float(settings.get("DQ_SUITE_TIMEOUT_SECONDS"))


@dataclass(frozen=True)
class RunSummary:
    run_id: int | None  # None on a dry run
    report: SuiteReport
    recorded: RecordedRun | None
    timed_out: bool = False  # its reads were stopped at the time budget (rules ERROR)


def sources() -> dict[str, Source]:
    return load_sources(settings.get("DQ_RULES_DIR") / "sources.yaml")


def run_suite(suite_name: str, *, trigger: str = "manual", rule_names: Sequence[str] | None = None,
              requested_by: str = "cli", dry_run: bool = False, due_at: datetime | None = None,
              worker: str | None = None, run_id: int | None = None, engine: Engine | None = None,
              timeout_seconds: float | None = None, lease: Lease | None = None,
              announce: bool = True) -> RunSummary:
    """Run and record a suite now. Its reads must end within `timeout_seconds` (default DQ_SUITE_TIMEOUT_SECONDS):
    the source stops them (statement timeout) and they are cancelled there at the deadline; the rules
    are then ERROR. SIGINT/SIGTERM under `interruptible()` cancel the reads, mark the run ABORTED and
    raise Interrupted. `lease`: the scheduler's lease the run was claimed under (fencing token).
    `announce=False`: the caller logs and counts the run (the scheduler does it for its check
    processes, whose parent owns the log file).
    """
    suite = live_suite(suite_name, engine)
    if rule_names:
        missing = [n for n in rule_names if n not in {r.name for r in suite.rules}]
        if missing:
            raise NotFound(f"rule(s) {', '.join(missing)} not in suite {suite_name!r}. "
                           "Hint: check the names with `python manage.py rules list`.")
    timeout = default_timeout() if timeout_seconds is None else timeout_seconds
    if run_id is None and not dry_run:
        repair_orphans(engine)
        with db.write(engine) as conn:
            run_id = start_run(conn, suite.name, suite.source, trigger, due_at=due_at,
                               requested_by=requested_by, worker=worker, timeout_seconds=timeout)
    tag = f"dq-run-{run_id}" if run_id is not None else f"dq-dry-{os.getpid()}-{next(_DRY_RUNS)}"
    deadline = time.monotonic() + timeout
    try:
        report = evaluate_bounded(suite, rule_names, timeout, tag)
    except Interrupted as stop:
        if run_id is not None:
            _abort(run_id, f"interrupted by {signal.Signals(stop.signum).name} while running", engine)
            stop.run_ids.append(run_id)
        raise
    timed_out = time.monotonic() >= deadline - cancel.MARGIN_SECONDS - 0.1 and report.status is Verdict.ERROR
    if dry_run:
        with db.read(engine) as conn:
            report = anomaly.judge_report(conn, suite, report, None, record=False)
        return RunSummary(None, report, None, timed_out)
    assert run_id is not None
    backfilled = anomaly.backfill_new(suite, report, sources(), engine) if anomaly.watched(suite) else {}
    with db.write(engine) as conn:
        # The points and their verdicts commit with the run, and FAILED ones open violations like any rule.
        report = anomaly.judge_report(conn, suite, report, run_id, notes=backfilled)
        recorded = finish_run(conn, run_id, report, suite, lease=lease)
        # The outbox commits with the run: an alert is never lost or sent for a run that rolled back.
        enqueue_for_run(conn, recorded, report, suite)
    if announce:
        run_events.announce(report, suite, run_id, trigger)
    return RunSummary(run_id, report, recorded, timed_out)


def _abort(run_id: int, reason: str, engine: Engine | None) -> None:
    with db.write(engine) as conn:
        scheduling.abandon_run(conn, run_id, reason)


def evaluate_bounded(suite: Suite, rule_names: Sequence[str] | None, timeout_seconds: float, tag: str) -> SuiteReport:
    """evaluate_safely in a thread whose reads carry `tag` and must end within `timeout_seconds`.

    The main thread waits in short steps, so signal handlers run even while a read hangs in the
    driver; at the deadline, or on an exception such as Interrupted, the tagged reads are
    cancelled in the source before the exception goes on.
    """
    started = clock.utcnow()
    deadline = time.monotonic() + timeout_seconds
    box: dict[str, SuiteReport] = {}

    def work() -> None:
        with cancel.budget(tag, deadline, timeout_seconds):
            box["report"] = evaluate_safely(suite, rule_names)

    thread = threading.Thread(target=work, name=f"dq-{tag}", daemon=True)
    thread.start()
    try:
        while thread.is_alive() and time.monotonic() < deadline + 1.0:
            thread.join(0.1)
        if thread.is_alive():  # the source did not end the read itself (SQLite, Parquet, a driver hang)
            cancel_reads(suite.source, tag)
            thread.join(CANCEL_GRACE_SECONDS)
    except BaseException:
        cancel_reads(suite.source, tag)
        thread.join(CANCEL_GRACE_SECONDS)
        raise
    if "report" in box:
        return box["report"]
    message = (f"suite {suite.name!r} ran longer than {timeout_seconds:g}s and was stopped. Hint: raise the "
               "timeout (--timeout, DQ_SUITE_TIMEOUT_SECONDS), enable sampling on large tables, or look "
               "for locks and slow queries in the source.")
    chosen = [r for r in suite.rules if not rule_names or r.name in rule_names]
    results = tuple(RuleResult(r.name, r.check, r.severity.value, Verdict.ERROR if r.enabled else Verdict.SKIPPED,
                               message) for r in chosen)
    return SuiteReport(suite.name, suite.source, started, clock.utcnow(), results, error=message)


def evaluate_safely(suite: Suite, rule_names: Sequence[str] | None = None) -> SuiteReport:
    """evaluate_suite, with any unexpected failure turned into ERROR results that say so."""
    started = clock.utcnow()
    try:
        known = sources()
        if suite.source not in known:
            raise NotFound(f"source {suite.source!r} of suite {suite.name!r} is not defined. "
                           f"Hint: define it in {settings.get('DQ_RULES_DIR') / 'sources.yaml'}.")
        return evaluate_suite(suite, known, rule_names=rule_names)
    except Exception as exc:  # the engine reports per-rule errors itself; this is the safety net
        message = f"suite {suite.name!r} could not run: {exc}"
        chosen = [r for r in suite.rules if not rule_names or r.name in rule_names]
        results = tuple(
            RuleResult(r.name, r.check, r.severity.value, Verdict.ERROR if r.enabled else Verdict.SKIPPED, message)
            for r in chosen
        )
        return SuiteReport(suite.name, suite.source, started, clock.utcnow(), results, error=message)


def all_suite_names(engine: Engine | None = None) -> list[str]:
    return [s.name for s in live_suites(engine)]
