"""Running a suite: load its live rules, evaluate in one scan, record the run, enqueue alerts.

The CLI (`run_dq_checks`), the scheduler, the console's "Run now" (through run requests), the
gate and the bypass restore all call `run_suite`. An unexpected engine failure still ends in a
recorded run whose rules are ERROR, never in a RUNNING row nobody closes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine

import clock
import settings
from alerting import enqueue_for_run
from engine.evaluate import evaluate_suite
from engine.manifest import load_sources
from engine.model import Source, Suite
from engine.results import RuleResult, SuiteReport, Verdict
from ops import run_events
from store import db
from store.errors import NotFound
from store.results import RecordedRun, finish_run, start_run
from store.rules import live_suite, live_suites


@dataclass(frozen=True)
class RunSummary:
    run_id: int | None  # None on a dry run
    report: SuiteReport
    recorded: RecordedRun | None


def sources() -> dict[str, Source]:
    return load_sources(settings.get("DQ_RULES_DIR") / "sources.yaml")


def run_suite(suite_name: str, *, trigger: str = "manual", rule_names: Sequence[str] | None = None,
              requested_by: str = "cli", dry_run: bool = False, due_at: datetime | None = None,
              worker: str | None = None, run_id: int | None = None, engine: Engine | None = None,
              announce: bool = True) -> RunSummary:
    """Run and record one suite. `announce=False`: the caller logs and counts the run (the scheduler
    does it for its check processes, whose parent owns the log file)."""
    suite = live_suite(suite_name, engine)
    if rule_names:
        missing = [n for n in rule_names if n not in {r.name for r in suite.rules}]
        if missing:
            raise NotFound(f"rule(s) {', '.join(missing)} not in suite {suite_name!r}. "
                           "Hint: check the names with `python manage.py rules list`.")
    if run_id is None and not dry_run:
        with db.write(engine) as conn:
            run_id = start_run(conn, suite.name, suite.source, trigger, due_at=due_at,
                               requested_by=requested_by, worker=worker)
    report = evaluate_safely(suite, rule_names)
    if dry_run:
        return RunSummary(None, report, None)
    assert run_id is not None
    with db.write(engine) as conn:
        recorded = finish_run(conn, run_id, report, suite)
        # The outbox commits with the run: an alert is never lost or sent for a run that rolled back.
        enqueue_for_run(conn, recorded, report, suite)
    if announce:
        run_events.announce(report, suite, run_id, trigger)
    return RunSummary(run_id, report, recorded)


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
