"""Telling the approvers a bypass request waits for them: when it is filed, and again if unanswered after 1 h.

The approvers are the people config/roles.yaml gives a role the approval matrix still needs for
the request's layer (a data_eng_lead for silver; a data_eng_lead and a manager for gold),
without the requester (four eyes) and anyone who already decided. Admins, who may act for any
role, are told only when nobody holds a needed role by name. Each is e-mailed (their console
name is their address); when e-mail is not configured, or nobody can be e-mailed, the suite
team's Slack channel gets the notice, naming them. The console always keeps a copy.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

import clock
import settings
from alerting.policy import Policy, current_policy
from alerting.targets import STORE, Target, resolve
from ops import housekeeping
from ops.roles import load_roles
from store import alerts as outbox
from store import approval_matrix, audit, db
from store import bypass as bypass_store
from store.alerts import NewAlert
from store.bypass import BypassRequest

_log = logging.getLogger(__name__)
_EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$")
STAGES = ("filed", "reminder")


def needed_roles(request: BypassRequest, matrix: approval_matrix.ApprovalMatrix) -> tuple[str, ...]:
    """The matrix roles for the request's layer that no approval covers yet."""
    policy = matrix.policy(request.layer)
    covered = {a.role for a in request.approvals if a.decision == "approve"}
    return tuple(r for r in (policy.approvers if policy else ()) if r not in covered)


def approvers(request: BypassRequest, needed: tuple[str, ...], roles: dict[str, frozenset[str]]) -> list[str]:
    """Who can give the approvals still needed, by name from the roles file (admins as a fallback)."""
    decided = {a.approver.lower() for a in request.approvals} | {request.requested_by.lower()}
    people = [name for name, held in roles.items() if name not in decided]
    named = sorted({name for name in people for role in needed if role in roles[name]})
    uncovered = [role for role in needed if not any(role in roles[name] for name in named)]
    admins = sorted(name for name in people if "admin" in roles[name]) if uncovered else []
    return sorted({*named, *admins})


def notify_approvers(now: datetime | None = None, *, engine: Engine | None = None,
                     policy: Policy | None = None) -> list[int]:
    """Write the notices that are due for every pending request; returns the new outbox row ids."""
    now = now or clock.utcnow()
    policy = policy or current_policy()
    pending = bypass_store.list_requests(["pending"], engine=engine)
    if not pending:
        return []
    matrix, roles = approval_matrix.load(), load_roles()
    remind_after = timedelta(minutes=policy.approval_reminder_minutes)
    written: list[int] = []
    with db.write(engine) as conn:
        for request in pending:
            needed = needed_roles(request, matrix)
            people = approvers(request, needed, roles)
            due = ["filed"] + (["reminder"] if now - request.requested_at >= remind_after else [])
            batches = {_key(request, stage): _rows(request, stage, needed, people, policy, now) for stage in due}
            done = outbox.add_once(conn, batches, now)
            if done:
                stages = [stage for stage in due if _key(request, stage) in done]
                audit.record(conn, "alerting", "bypass.approvers_notified", "bypass", request.id,
                             stages=stages, approvers=people, roles=list(needed))
                _log.warning("bypass #%s waits for %s: notified %s", request.id, " + ".join(needed),
                             ", ".join(people) or "nobody (no one holds the role)")
            written += [i for ids in done.values() for i in ids]
    return written


def _key(request: BypassRequest, stage: str) -> str:
    return f"bypass-{request.id}-approvers-{stage}"


def _text(request: BypassRequest, stage: str, needed: tuple[str, ...], people: list[str], policy: Policy) -> str:
    link = f"{str(settings.get('DQ_CONSOLE_URL')).rstrip('/')}/bypass_requests"
    who = ", ".join(people) if people else "NOBODY: no one in config/roles.yaml holds the role"
    manual = request.kind == bypass_store.MANUAL_FIX  # Option C: a record of SQL run by hand, never a pass
    what = f"manual fix #{request.id} (SQL run by hand; a record the DQ gate never honours)" if manual else f"bypass #{request.id}"
    head = (f"REMINDER, unanswered after {policy.approval_reminder_minutes:g} min: {what}"
            if stage == "reminder" else what[0].upper() + what[1:])
    span = "" if manual else f" for {request.duration_hours:g} h"
    return (f"{head} on {request.table_name} ({request.layer}) waits for approval by {' + '.join(needed) or 'nobody'} "
            f"({who}). Requested by {request.requested_by}{span}, incident "
            f"{request.incident_id} {request.incident_url}. Impact: {request.business_impact}. "
            f"The runbook expects an answer within 1 h for critical issues. Approve or reject: {link}")


def _rows(request: BypassRequest, stage: str, needed: tuple[str, ...], people: list[str], policy: Policy,
          now: datetime) -> list[NewAlert]:
    payload = {"event": f"bypass.approval_{stage}", "severity": "HIGH", "suite": request.suite,
               "table": request.table_name, "request_id": request.id, "approvers": people, "roles": list(needed),
               "incident_url": request.incident_url, "text": _text(request, stage, needed, people, policy)}
    targets = _targets(request, people, policy)

    def row(target: Target) -> NewAlert:
        return NewAlert(
            kind="bypass_approval", channel=target.channel, destination=target.destination, payload=payload,
            suite=request.suite, severity="HIGH", dedup_key=_key(request, stage),
            status=outbox.SENT if target == STORE else outbox.PENDING, next_attempt_at=now,
        )

    return [row(STORE), *(row(t) for t in targets)]


def _targets(request: BypassRequest, people: list[str], policy: Policy) -> list[Target]:
    """Each approver's e-mail; the suite team's Slack when nobody can be e-mailed."""
    team = policy.team_for(request.suite, ())
    email = resolve(team, "email") is not None  # SMTP is configured
    mailed = [Target("email", p) for p in people if email and _EMAIL.match(p)]
    if mailed:
        return mailed
    slack = resolve(team, "slack")
    return [slack] if slack is not None else []


@housekeeping.job(every_seconds=30)
def notify_bypass_approvers(now: datetime) -> list[int]:
    return notify_approvers(now)
