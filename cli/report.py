"""`python manage.py report daily|weekly [--format md|json]`: the runbook's daily health check and weekly
rule review, computed by the same store functions as the console's Health and Rule review pages."""

from __future__ import annotations

import argparse

from ops.reports import daily, weekly
from store import queries
from store.errors import StoreError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report", help="daily health check or weekly rule review (the console's numbers) as Markdown or JSON"
    )
    parser.add_argument("kind", choices=("daily", "weekly"), help="daily: last 24 h health; weekly: rule review")
    parser.add_argument("--format", choices=("md", "json"), default="md", help="output format (default md)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    status = queries.store_status()
    if not status.ok:
        raise StoreError(status.message)
    text = daily(args.format) if args.kind == "daily" else weekly(args.format)
    print(text)
    return 0
