"""`python manage.py health`: the system's health as JSON; exit 0 when healthy, 1 when not."""

from __future__ import annotations

import argparse
import json

from ops import health

EXIT_UNHEALTHY = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "health", help="print the DQ system's health as JSON; exit 1 when unhealthy",
        description="Store reachable, scheduler heartbeat age, last successful run, pending run "
        "requests and overdue suites, as JSON (the same document the scheduler serves at "
        "/api/v1/dq/health/). Exit code 0 when healthy, 1 when not: usable in monitors and scripts.",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    report = health.check()
    print(json.dumps(report.to_dict(), indent=2, default=str))
    return 0 if report.healthy else EXIT_UNHEALTHY
