"""`python manage.py audit verify`: walk the hash-chained audit log and report the first broken link."""

from __future__ import annotations

import argparse
import sys

from store import audit, db


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("audit", help="check the tamper-evident audit log (audit verify)")
    actions = parser.add_subparsers(dest="audit_command", metavar="ACTION")
    actions.required = True
    verify = actions.add_parser(
        "verify", help="verify every link of the audit chain; exit 0 intact, 1 broken (names the first broken row)"
    )
    verify.set_defaults(handler=handle_verify)


def handle_verify(args: argparse.Namespace) -> int:
    with db.read() as conn:
        report = audit.verify(conn)
    if report.ok:
        print(str(report))
        return 0
    print(str(report), file=sys.stderr)
    print(audit.VERIFY_HINT, file=sys.stderr)
    return 1
