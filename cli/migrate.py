"""`python manage.py migrate [--status] [--owner-role OWNER --app-role APP]`: create or upgrade the store schema."""

from __future__ import annotations

import argparse

from cli import UsageError
from store import db, migrations


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("migrate", help="create or upgrade the store schema")
    parser.add_argument(
        "--status", action="store_true",
        help="only show the store's revision and the pending ones (exit 1 when some are pending)",
    )
    parser.add_argument(
        "--owner-role", metavar="OWNER",
        help="PostgreSQL: make this role own every table (give --app-role too; docs/security.md)",
    )
    parser.add_argument(
        "--app-role", metavar="APP",
        help="PostgreSQL: grant this application role only DML, and only SELECT/INSERT on audit_log",
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
    if bool(args.owner_role) != bool(args.app_role):
        raise UsageError("--owner-role and --app-role go together. Hint: pass both role names (docs/security.md).")
    done = migrations.migrate(engine, owner_role=args.owner_role, app_role=args.app_role)
    print(f"applied {', '.join(done)} to {where}" if done else f"{where} is up to date (at {migrations.head()})")
    if args.owner_role:
        print(f"tables owned by {args.owner_role}; {args.app_role} granted DML only (audit_log: SELECT, INSERT)")
    return 0
