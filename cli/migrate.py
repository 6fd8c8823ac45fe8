"""`python manage.py migrate`: create or upgrade the store schema."""

from __future__ import annotations

import argparse

from store import db, migrations


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("migrate", help="create or upgrade the store schema")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    engine = db.get_engine()
    done = migrations.migrate(engine)
    where = engine.url.render_as_string(hide_password=True)
    print(f"applied {', '.join(done)} to {where}" if done else f"{where} is up to date")
    return 0
