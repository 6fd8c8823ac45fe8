"""`python manage.py bypass {list,export,expire,record-manual}`: read, house-keep and record (Option C) bypasses.

Approvals happen on the console, where the approver is authenticated; a CLI flag naming
the approver would let anyone claim to be a lead.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import clock
from cli._common import default_actor, report_ops_error
from ops import bypass, gate, manual_fix
from ops.errors import InvalidRequest
from ops.roles import user
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
    manual = sub.add_parser(
        "record-manual", help="record a manual fix run by hand (failover Option C); the gate never honours it",
        description="Record SQL you ran by hand to promote or fix data (failover procedure, Option C), with "
        "the bypass checklist. It waits for the approval matrix's approvers on the console like a bypass, "
        "then is `recorded`. The DQ gate never honours it, and pii/financial/compliance tables are refused. "
        "The SQL file is stored (sha256, size, text; at most 256 KB of UTF-8), never run. "
        "The acting user is DQ_ACTOR or cli:<OS user>.")
    manual.add_argument("--suite", required=True, help="the suite of the table you fixed, e.g. silver.orders")
    manual.add_argument("--ticket", required=True, help="incident ticket id, e.g. INC-1234")
    manual.add_argument("--sql-file", required=True, type=Path, help="the .sql file of the statements you ran")
    for flag, what in _CHECKLIST_FLAGS:
        manual.add_argument(flag, required=True, help=what)
    manual.add_argument("--failure-details", default="", help="default: the suite's latest failing run")
    manual.set_defaults(handler=_record_manual)


_CHECKLIST_FLAGS = (
    ("--ticket-url", "the incident ticket's link (https://...)"),
    ("--business-impact", "business impact of the failure"),
    ("--impact-assessment", "what the manual fix changes downstream"),
    ("--rollback-plan", "how to undo the manual fix"),
    ("--fix-timeline", "when the real fix lands"),
    ("--alternative-plan", "the remediation considered instead"),
)


def _record_manual(args: argparse.Namespace) -> int:
    new = bypass_store.NewRequest(
        suite=args.suite, incident_id=args.ticket, incident_url=args.ticket_url,
        failure_details=args.failure_details, business_impact=args.business_impact, duration_hours=0.0,
        impact_assessment=args.impact_assessment, rollback_plan=args.rollback_plan,
        fix_timeline=args.fix_timeline, alternative_plan=args.alternative_plan)
    try:
        record_id = manual_fix.record(user(default_actor()), new, args.sql_file)
    except InvalidRequest as exc:  # a bad --sql-file is a usage error (exit 3)
        return report_ops_error("bypass record-manual", exc)
    fix = bypass_store.get(record_id)
    print(f"manual fix #{record_id} recorded for {fix.suite} ({fix.incident_id}); SQL {fix.sql_bytes} bytes, "
          f"sha256 {fix.sql_sha256}. It waits for approval on the console (Bypass requests). "
          "The DQ gate does not honour it.")
    return 0


def _list(args: argparse.Namespace) -> int:
    now = clock.utcnow()
    for r in bypass_store.list_requests(args.status):
        left = f", {gate.hours_minutes(r.time_left(now))} left" if r.status == "active" else ""
        if r.kind == bypass_store.MANUAL_FIX:
            print(f"#{r.id} {r.status:<11} {r.suite:<30} manual fix by {r.requested_by} ({r.incident_id}): a record, "
                  "never honoured by the gate")
        else:
            print(f"#{r.id} {r.status:<11} {r.suite:<30} {r.duration_hours:g} h by {r.requested_by} ({r.incident_id}{left})")
    return 0


def _export(args: argparse.Namespace) -> int:
    text = bypass.export_history(args.request_id, args.format)
    if args.output:
        args.output.write_text(text)
        print(f"wrote {args.output}")
    else:
        print(text, end="")
    return 0


def _expire(args: argparse.Namespace) -> int:
    closed = bypass_store.expire_due()
    print(f"expired {', '.join(f'#{i}' for i in closed)}" if closed else "nothing to expire")
    return 0
