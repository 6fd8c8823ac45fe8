"""`python manage.py backup DIR`: the rule manifest and every store table, from one consistent read."""

from __future__ import annotations

import argparse
from pathlib import Path

from cli._common import report_ops_error
from ops import backup
from ops.errors import OpsError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("backup", help="back up the store (all tables + rule manifest) into a new folder")
    parser.add_argument("dir", type=Path, help="new or empty folder to write")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        result = backup.backup(args.dir)
    except OpsError as exc:
        return report_ops_error(args.command, exc)
    rows = sum(t.rows for t in result.tables)
    print(f"backed up {rows} rows in {len(result.tables)} tables and {result.suites} suites to {result.path}")
    print(f"migrations: {', '.join(result.migrations)}")
    return 0
