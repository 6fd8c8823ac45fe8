"""`python manage.py scheduler [--once] [--id NAME]`: the long-running process that runs checks on time."""

from __future__ import annotations

import argparse
import sys

from scheduler.errors import SchedulerError
from scheduler.loop import Config, Scheduler
from telemetry import logs


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "scheduler", help="run due suites, run requests and housekeeping until stopped",
        description="Run suites when their cron schedules are due, pick up run requests "
        "(run_dq_checks --async, the console's Run now) and housekeeping, and serve health on "
        "DQ_HEALTH_HOST:DQ_HEALTH_PORT. SIGTERM finishes or aborts running suites, then exits. "
        "Service setup: docs/scheduler.md.",
    )
    parser.add_argument("--once", action="store_true",
                        help="run everything due and every pending request once, then exit (for cron or a CI job)")
    parser.add_argument("--id", dest="scheduler_id", metavar="NAME",
                        help="this scheduler's name in heartbeats and leases (default: the host name); "
                        "give each replica on one host its own")
    parser.add_argument("--log-level", default=None, choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                        help="default: DQ_LOG_LEVEL")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    config = Config.from_settings(args.scheduler_id)
    logs.configure("scheduler", args.log_level)  # stderr and DQ_LOG_DIR/scheduler.log (docs/operations.md)
    scheduler = Scheduler(config)
    try:
        if args.once:
            scheduler.run_once()
        else:
            scheduler.run_forever()
    except SchedulerError as exc:
        print(f"manage.py scheduler: {exc}", file=sys.stderr)
        return 2
    if scheduler.fenced is not None:
        print(f"manage.py scheduler: stopped without writing: {scheduler.fenced}", file=sys.stderr)
        return 3
    return 0
