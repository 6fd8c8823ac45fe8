"""`python manage.py send_alerts`: escalate and deliver the alert outbox once (the scheduler does it on timers)."""

from __future__ import annotations

import argparse

import clock
from alerting.deliver import deliver_due
from alerting.errors import PolicyError
from alerting.escalate import escalate_due
from alerting.policy import load_policy, policy_file
from cli._common import cli_user
from ops import alert_retry
from store import db


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "send_alerts", help="escalate unacknowledged violations and deliver pending alerts once"
    )
    parser.add_argument("--check-config", action="store_true", help="only validate config/alerting.yaml")
    parser.add_argument("--retry-failed", action="store_true", help="queue alerts that failed for good again first "
                        "(needs a role in roles.yaml for --actor / DQ_ACTOR)")
    parser.add_argument("--actor", help="who retries, for the role check and the audit log (default: DQ_ACTOR or the OS user)")
    parser.add_argument("--no-escalate", action="store_true", help="deliver only, do not write escalations")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        policy = load_policy()
    except PolicyError as exc:
        print(f"manage.py send_alerts: {exc}")
        return 2
    if args.check_config:
        per_severity = [
            f"{severity} " + ", ".join(
                f"{lvl.team} after {minutes:g} min" for lvl in policy.levels
                if (minutes := policy.step_minutes(severity, lvl.level)) is not None
            )
            for severity in reversed(policy.escalation_severities)
        ]
        levels = "; ".join(per_severity) or "none"
        print(f"{policy_file()} is valid: {len(policy.teams)} team(s), escalation: {levels}; "
              f"bypass approvers reminded after {policy.approval_reminder_minutes:g} min")
        return 0
    engine = db.get_engine()
    now = clock.utcnow()
    if args.retry_failed:
        print(f"queued {alert_retry.retry_failed(cli_user(args.actor))} failed alert(s) again")
    escalated = [] if args.no_escalate else escalate_due(now=now, engine=engine, policy=policy)
    report = deliver_due(now=now, engine=engine, policy=policy)
    print(
        f"escalations written: {len(escalated)}; messages sent: {report.messages} ({report.sent} alert rows); "
        f"retrying: {report.retrying}; failed: {report.failed}"
    )
    for error in report.errors:
        print(f"  {error}")
    return 1 if report.errors else 0
