"""`python manage.py export_dq_data {violations,runs,rules,manifest} FILE [--days N] ...`: export store data."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from cli._common import report_ops_error
from ops import export
from ops.errors import OpsError


def _days(value: str) -> float:
    try:
        days = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of days (e.g. --days=1 or --days 0.5)") from None
    if math.isnan(days) or days < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative; --days counts back from now (e.g. --days=7)")
    return days


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export_dq_data",
        help="export violations, runs, rules or the rule manifest to a file",
        description="Export store data. The format follows the file extension unless --format is given.",
    )
    # A plain positional (not choices=) so an unknown kind gets our message with the Hint.
    parser.add_argument("kind", metavar="{violations,runs,rules,manifest}", help="what to export")
    parser.add_argument("file", type=Path, help="file to write (replaced atomically)")
    parser.add_argument("--days", type=_days, help="only the last N days (violations: last seen; runs: started)")
    parser.add_argument("--rule-name", help="only this rule")
    parser.add_argument("--suite", help="only this suite")
    parser.add_argument("--format", choices=export.FORMATS, help="json, csv, yaml, parquet or markdown (a ticket section per row; default: from the extension)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    request = export.ExportRequest(
        kind=args.kind, path=args.file, days=args.days, rule_name=args.rule_name, suite=args.suite, format=args.format
    )
    try:
        result = export.export(request)
    except OpsError as exc:
        return report_ops_error(args.command, exc)
    unit = "suite" if result.kind == "manifest" else "row"
    print(f"exported {result.rows} {unit}{'s' if result.rows != 1 else ''} of {result.kind} to {result.path} ({result.format})")
    return 0
