"""`python manage.py migrate [--status]`: create or upgrade the store schema, or say where it stands."""

from __future__ import annotations

import argparse

from store import db, migrations


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("migrate", help="create or upgrade the store schema")
    parser.add_argument(
        "--status", action="store_true",
        help="only show the store's revision and the pending ones (exit 1 when some are pending)",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    engine = db.get_engine()
    where = engine.url.render_as_string(hide_password=True)
    if args.status:
        done, pending = migrations.applied(engine), migrations.pending(engine)
        print(f"store:   {where}")
        print(f"current: {done[-1] if done else 'empty (no revision applied)'}")
        print(f"head:    {migrations.head()}")
        print(f"pending: {', '.join(pending) if pending else 'none'}")
        return 1 if pending else 0
    done = migrations.migrate(engine)
    print(f"applied {', '.join(done)} to {where}" if done else f"{where} is up to date (at {migrations.head()})")
    return 0
