"""`python manage.py seed_demo`: build the deterministic demo warehouse the demo rules check."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from cli import UsageError
from ops import demo


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "seed_demo",
        help="build the demo warehouse (SQLite) with planted defects",
        description="Build the demo warehouse: bronze/silver/gold tables with defects planted at exact "
        "counts (docs/demo.md). Same seed, scale and UTC day: a byte-identical file.",
    )
    parser.add_argument("--path", type=Path, help="the SQLite file to build (default: <DQ_DATA_DIR>/demo_warehouse.db)")
    parser.add_argument("--force", action="store_true", help="rebuild an existing file (atomically: temp file, then rename)")
    parser.add_argument("--rows-scale", type=float, default=1.0, metavar="X",
                        help="multiply every table's size by X (default 1: about 430,000 rows)")
    parser.add_argument("--now", metavar="ISO", help="build as of this time (default now, or DQ_NOW; without a zone: UTC); "
                        "timestamps are offsets from the start of its UTC day")
    parser.add_argument("--seed", type=int, default=demo.DEFAULT_SEED, help=f"random seed (default {demo.DEFAULT_SEED})")
    parser.set_defaults(handler=handle)


def _parse_now(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise UsageError(f"--now {text!r} is not an ISO 8601 time. Hint: e.g. --now 2026-01-15T00:00:00Z.") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # naive means UTC, as for DQ_NOW


def handle(args: argparse.Namespace) -> int:
    now = _parse_now(args.now)
    try:
        report = demo.seed_demo(args.path, force=args.force, scale=args.rows_scale, now=now, seed=args.seed)
    except demo.DemoExists as exc:
        # Not an error: the first-start command may run twice; the existing warehouse is kept.
        print(f"kept the existing demo warehouse: {exc}")
        return 0
    except demo.DemoError as exc:
        raise UsageError(str(exc)) from exc
    except OSError as exc:
        print(f"manage.py seed_demo: cannot write {args.path or demo.default_path()}: {exc}. "
              "Hint: choose a writable --path or set DQ_DATA_DIR.", file=sys.stderr)
        return 2
    width = max(len(name) for name in report.rows)
    for name, rows in report.rows.items():
        print(f"  {name:<{width}}  {rows:>9,} rows")
    print(f"built {report.path} ({report.total_rows:,} rows, anchored at {report.anchor:%Y-%m-%d %H:%M} UTC) "
          f"in {report.seconds:.1f} s")
    return 0
