"""`python manage.py cleanup --older-than-days 180 [--archive DIR] [--dry-run]`: archive then delete old history."""

from __future__ import annotations

import argparse
from pathlib import Path

from cli._common import default_actor, report_ops_error
from ops import retention
from ops.errors import OpsError


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of days (e.g. 180)") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value} must be 1 or more (the runbook keeps 180 days)")
    return number


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "cleanup",
        help="archive violations, results and runs older than N days to Parquet, then delete them",
        description="Monthly cleanup: archive to Parquet, delete in short batches, then VACUUM/ANALYZE.",
    )
    parser.add_argument("--older-than-days", type=_positive_int, required=True, metavar="N", help="keep the last N days")
    parser.add_argument("--archive", type=Path, metavar="DIR", help="archive folder (default: DQ_ARCHIVE_DIR or DQ_DATA_DIR/archive)")
    parser.add_argument("--dry-run", action="store_true", help="only count what would be archived; write nothing")
    parser.add_argument("--batch-size", type=_positive_int, default=retention.DEFAULT_BATCH, help="rows per archive file and delete transaction")
    parser.add_argument("--skip-maintenance", action="store_true", help="do not run VACUUM / ANALYZE afterwards")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        report = retention.cleanup(
            args.older_than_days, archive=args.archive, dry_run=args.dry_run, batch_size=args.batch_size,
            maintenance=not args.skip_maintenance, actor=default_actor(),
        )
    except OpsError as exc:
        return report_ops_error(args.command, exc)
    verb = "would archive and delete" if report.dry_run else "archived and deleted"
    counts = ", ".join(f"{rows} {name}" for name, rows in report.rows.items())
    print(f"cutoff {report.cutoff.isoformat()}: {verb} {counts}")
    if not report.dry_run:
        print(f"{report.batches} batches, {len(report.files)} files in {report.archive_dir}")
        if report.maintenance:
            print(f"maintenance: {report.maintenance}")
    return 0
