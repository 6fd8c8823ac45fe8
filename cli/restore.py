"""`python manage.py restore DIR`: rebuild an empty store from a backup folder, ids preserved."""

from __future__ import annotations

import argparse
from pathlib import Path

from cli._common import default_actor, report_ops_error
from ops import backup
from ops.errors import OpsError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("restore", help="restore a backup folder into an empty store")
    parser.add_argument("dir", type=Path, help="folder written by `manage.py backup`")
    parser.add_argument("--actor", default=None, help="who restores, for the audit log (default: DQ_ACTOR or the OS user)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        result = backup.restore(args.dir, actor=args.actor or default_actor())
    except OpsError as exc:
        return report_ops_error(args.command, exc)
    rows = sum(t.rows for t in result.tables)
    print(f"restored {rows} rows in {len(result.tables)} tables from {result.path} (taken {result.created_at})")
    print("Next: python manage.py run_dq_checks --all --dry-run   # verify the rules against the sources")
    return 0
