"""`python manage.py classes {list,show,approve,reject}`: a table's data classes and proposed removals.

Classes belong to the table and grow on every load; removing one is a pending change until a
data_eng_lead other than its author approves it. The acting user is DQ_ACTOR or `cli:<OS user>`,
resolved through config/roles.yaml, so the approver is whoever runs the command.
"""

from __future__ import annotations

import argparse

from cli._common import default_actor
from ops import classes
from ops.roles import user
from store import table_classes

STATUSES = ("pending", "approved", "rejected", "withdrawn")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("classes", help="list, approve or reject changes of a table's data classes")
    sub = parser.add_subparsers(dest="classes_command", metavar="ACTION", parser_class=type(parser))
    sub.required = True
    listing = sub.add_parser("list", help="class changes, newest first (default: pending)")
    listing.add_argument("--status", action="append", choices=STATUSES)
    listing.set_defaults(handler=_list)
    show = sub.add_parser("show", help="the classes in force for a table")
    show.add_argument("source")
    show.add_argument("table", help="the qualified table name, e.g. silver.orders")
    show.set_defaults(handler=_show)
    approve = sub.add_parser("approve", help="approve a proposed removal (data_eng_lead, not its author)")
    approve.add_argument("change_id", type=int)
    approve.set_defaults(handler=_approve)
    reject = sub.add_parser("reject", help="reject a proposed removal; the classes stay in force")
    reject.add_argument("change_id", type=int)
    reject.add_argument("--reason", required=True)
    reject.set_defaults(handler=_reject)


def _list(args: argparse.Namespace) -> int:
    changes = table_classes.list_changes(tuple(args.status or ("pending",)))
    for change in changes:
        print(classes.describe(change))
    if not changes:
        print("no class changes")
    return 0


def _show(args: argparse.Namespace) -> int:
    in_force = table_classes.in_force(args.source, args.table)
    print(f"{args.source}:{args.table}: {', '.join(in_force) or 'no data classes'}")
    return 0


def _approve(args: argparse.Namespace) -> int:
    change = classes.approve(user(default_actor()), args.change_id)
    print(f"approved: {classes.describe(change)}")
    return 0


def _reject(args: argparse.Namespace) -> int:
    change = classes.reject(user(default_actor()), args.change_id, args.reason)
    print(f"rejected: {classes.describe(change)}")
    return 0
