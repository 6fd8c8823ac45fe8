"""`python manage.py run_dq_checks`: run rules now (or queue them with --async), as the runbooks call it.

Exit codes: 0 every rule passed (warnings included), 1 some rule FAILED, 2 some rule could not
run (ERROR; takes precedence over 1), 3 usage error, 130/143 interrupted by SIGINT/SIGTERM (the
run is recorded ABORTED and its reads are cancelled in the source, even while one hangs).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from cli import UsageError
from engine.results import RuleResult, Verdict
from ops.run_checks import Interrupted, RunSummary, all_suite_names, interruptible, run_suite
from store import db, migrations
from store.rules import suite_of_rule


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run_dq_checks", help="run DQ rules now, or queue them for the scheduler with --async",
        description="Run rules by name, by suite or all. Exit 0 all passed, 1 a rule failed, "
        "2 a rule could not run, 3 usage error.",
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--rule-name", action="append", dest="rule_names", metavar="NAME", help="a rule (repeatable)")
    target.add_argument("--suite", action="append", dest="suites", metavar="NAME", help="a suite, e.g. silver.orders (repeatable)")
    target.add_argument("--all", action="store_true", help="every enabled suite")
    parser.add_argument("--dry-run", action="store_true", help="evaluate and print; write nothing to the store")
    parser.add_argument("--async", action="store_true", dest="run_async", help="queue a run request for the scheduler and return")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--user", default=None, help="--async: who requests the run, for the role check and the "
                        "audit log (default: DQ_ACTOR or the OS user; needs a role in roles.yaml)")
    parser.add_argument("--timeout", type=float, metavar="SECONDS",
                        help="stop each suite's reads after this long, in the source too (default: DQ_SUITE_TIMEOUT_SECONDS)")
    parser.set_defaults(handler=handle)


def positive_timeout(value: float | None) -> float | None:
    if value is not None and not value > 0:
        raise UsageError("--timeout must be a positive number of seconds. Hint: e.g. --timeout 300.")
    return value


def _targets(args: argparse.Namespace) -> list[tuple[str, list[str] | None]]:
    """(suite, rule names or None for the whole suite), in a stable order."""
    if args.all:
        return [(name, None) for name in all_suite_names()]
    if args.suites:
        return [(name, None) for name in args.suites]
    by_suite: dict[str, list[str]] = {}
    for rule in args.rule_names:
        by_suite.setdefault(suite_of_rule(rule), []).append(rule)
    return list(by_suite.items())


def handle(args: argparse.Namespace) -> int:
    if args.run_async and args.dry_run:
        raise UsageError("--async and --dry-run cannot be combined (a dry run prints its results here)")
    migrations.require_current(db.get_engine())
    targets = _targets(args)
    if not targets:
        print("No enabled suites in the store. Hint: run `python manage.py load_dq_rules rules/`.")
        return 0
    if args.run_async:
        return _queue(targets, args)
    timeout = positive_timeout(args.timeout)
    summaries: list[RunSummary] = []
    try:
        with interruptible():
            for suite, rules in targets:
                summaries.append(run_suite(suite, trigger="manual", rule_names=rules, requested_by=args.user,
                                           dry_run=args.dry_run, timeout_seconds=timeout))
    except Interrupted as stop:
        runs = ", ".join(f"#{r}" for r in stop.run_ids) or "none started"
        print(f"manage.py run_dq_checks: interrupted by {stop}; run {runs} recorded ABORTED, its reads cancelled "
              "in the source. Hint: run it again when ready.", file=sys.stderr)
        return stop.exit_code
    _print(summaries, args)
    return exit_code([r for s in summaries for r in s.report.results])


def exit_code(results: Sequence[RuleResult]) -> int:
    verdicts = {r.status for r in results}
    if Verdict.ERROR in verdicts:
        return 2
    if Verdict.FAILED in verdicts:
        return 1
    return 0


def _queue(targets: list[tuple[str, list[str] | None]], args: argparse.Namespace) -> int:
    from cli._common import cli_user
    from ops.run_requests import run_now

    user = cli_user(args.user)
    for suite, rules in targets:
        chosen: list[str | None] = list(rules) if rules else [None]  # None: the whole suite
        for rule in chosen:
            request_id = run_now(user, suite, rule, origin="cli")
            what = f"rule {rule}" if rule else f"suite {suite}"
            print(f"queued run request {request_id} for {what}; the scheduler will pick it up "
                  "(watch with `python manage.py health`).")
    return 0


def _print(summaries: Sequence[RunSummary], args: argparse.Namespace) -> None:
    if args.format == "json":
        print(json.dumps([_as_json(s) for s in summaries], indent=2, default=str))
        return
    rows = [("RULE", "SUITE", "SEVERITY", "VERDICT", "OBSERVED", "FAILING/TESTED", "DETAIL")]
    for summary in summaries:
        for r in summary.report.results:
            observed = r.observed_text or ("" if r.observed_value is None else f"{r.observed_value:.6g}")
            counts = "" if r.rows_tested is None else f"{r.failing_rows or 0}/{r.rows_tested}"
            rows.append((r.rule_name, summary.report.suite, r.severity, r.status.value, observed, counts, r.message))
    widths = [max(len(str(row[i])) for row in rows) for i in range(6)]
    for row in rows:
        print("  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row[:6])) + "  " + str(row[6]))
    for summary in summaries:
        run = "dry run, not recorded" if summary.run_id is None else f"run {summary.run_id}"
        report = summary.report
        print(f"{report.suite}: {report.status.value} ({run}, {report.duration_ms:.0f} ms, "
              f"{report.rows_read if report.rows_read is not None else '?'} rows read)")


def _as_json(summary: RunSummary) -> dict[str, object]:
    report = summary.report
    return {
        "suite": report.suite, "run_id": summary.run_id, "status": report.status.value,
        "duration_ms": round(report.duration_ms, 1), "rows_read": report.rows_read, "error": report.error,
        "results": [{
            "rule": r.rule_name, "check": r.check_type, "severity": r.severity, "verdict": r.status.value,
            "observed_value": r.observed_value, "observed_text": r.observed_text, "warn_level": r.warn_level,
            "fail_level": r.fail_level, "failing_rows": r.failing_rows, "rows_tested": r.rows_tested,
            "message": r.message, "metrics": dict(r.metrics),
        } for r in report.results],
    }
