"""`python manage.py bypass {list,show,export,expire}`: read and house-keep bypass requests.

Approvals happen on the console, where the approver is authenticated; a CLI flag naming
the approver would let anyone claim to be a lead.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import clock
from ops import bypass, gate
from ops import export as exports
from store import bypass as bypass_store


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bypass", help="list, show, export or expire DQ bypass requests")
    sub = parser.add_subparsers(dest="bypass_command", metavar="ACTION", parser_class=type(parser))
    sub.required = True
    listing = sub.add_parser("list", help="bypass requests, newest first")
    listing.add_argument("--status", action="append", choices=bypass_store.STATUSES)
    listing.set_defaults(handler=_list)
    export = sub.add_parser("export", help="a request's full history for the incident ticket")
    export.add_argument("request_id", type=int)
    export.add_argument("--format", choices=("json", "markdown"), default="markdown")
    export.add_argument("--output", type=Path, help="file to write (default: standard output)")
    export.set_defaults(handler=_export)
    expire = sub.add_parser("expire", help="close bypasses past their end time now")
    expire.set_defaults(handler=_expire)


def _list(args: argparse.Namespace) -> int:
    now = clock.utcnow()
    for r in bypass_store.list_requests(args.status):
        left = f", {gate.hours_minutes(r.time_left(now))} left" if r.status == "active" else ""
        print(f"#{r.id} {r.status:<11} {r.suite:<30} {r.duration_hours:g} h by {r.requested_by} ({r.incident_id}{left})")
    return 0


def _export(args: argparse.Namespace) -> int:
    if args.output:
        exports.require_writable(args.output)  # before reading anything: /dev/null or a symlink is refused first
    text = bypass.export_history(args.request_id, args.format)
    if args.output:
        exports.write_text(args.output, text)
        print(f"wrote {args.output}")
    else:
        print(text, end="")
    return 0


def _expire(args: argparse.Namespace) -> int:
    closed = bypass_store.expire_due()
    print(f"expired {', '.join(f'#{i}' for i in closed)}" if closed else "nothing to expire")
    return 0
