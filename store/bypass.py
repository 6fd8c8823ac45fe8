"""Bypass requests and approvals: the failover procedure's state machine, enforced in the store.

pending -> active (approved per the matrix) -> expired | restored | rolled_back | ended (the suite
passes again); pending -> rejected; pending | active -> revoked (the table's data classes changed).
Every change is one transaction with its audit row; every refusal writes `bypass.refused`. The
store refuses never-allowed tables (classes in force for the table, not the suite), a suite whose
latest complete run has no blocking failure, self-approval, a missing approver role, a duration
over the matrix and a rejection without reason.
`honoured_bypass` is the one answer to "may the gate pass this suite because of a bypass?".
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

import clock
from store import approval_matrix, audit, bypass_signing, db, gate_reads, table_classes
from store.errors import InvalidTransition, NotFound, PolicyViolation
from store.schema import alerts, audit_log, bypass_approvals, bypass_requests, suites
from store.table_classes import Actor

STATUSES = ("pending", "active", "rejected", "expired", "restored", "rolled_back", "ended", "revoked", "recorded")
BYPASS, MANUAL_FIX = "bypass", "manual_fix"  # kinds; only a BYPASS can ever let the gate pass
CLOSING_ACTIONS = (
    "bypass.rejected", "bypass.expired", "bypass.restored", "bypass.rolled_back", "bypass.ended", "bypass.revoked",
    "bypass.recorded",
)
Severities = Sequence[str]
HOUSEKEEPING_ACTOR = "housekeeping"


@dataclass(frozen=True)
class SuiteTerms:
    """What the matrix needs to know about a suite, read from the live `suites` row."""

    name: str
    table_name: str
    layer: str
    data_classes: tuple[str, ...]  # in force for the table: the union over every suite naming it
    source: str = ""
    record_problems: tuple[str, ...] = ()  # class records that fail their signature or the audit log


@dataclass(frozen=True)
class NewRequest:
    """The pre-approval checklist, as the requester fills it in."""

    suite: str
    incident_id: str
    incident_url: str
    failure_details: str
    business_impact: str
    duration_hours: float
    impact_assessment: str
    rollback_plan: str
    fix_timeline: str
    alternative_plan: str
    run_id: int | None = None
    violation_ids: tuple[int, ...] = ()


CHECKLIST_FIELDS = (
    ("incident_id", "Incident ticket id"),
    ("incident_url", "Incident ticket link"),
    ("failure_details", "DQ failure details"),
    ("business_impact", "Business impact"),
    ("impact_assessment", "Impact assessment"),
    ("rollback_plan", "Rollback plan"),
    ("fix_timeline", "Fix timeline"),
    ("alternative_plan", "Alternative remediation plan"),
)


@dataclass(frozen=True)
class Approval:
    approver: str
    role: str
    decision: str  # approve | reject
    reason: str | None
    decided_at: datetime


@dataclass(frozen=True)
class BypassRequest:
    id: int
    suite: str
    table_name: str
    layer: str
    data_classes: tuple[str, ...]
    requested_by: str
    requested_at: datetime
    incident_id: str
    incident_url: str
    failure_details: str
    run_id: int | None
    violation_ids: tuple[int, ...]
    business_impact: str
    duration_hours: float
    impact_assessment: str
    rollback_plan: str
    fix_timeline: str
    alternative_plan: str
    status: str
    activated_at: datetime | None
    expires_at: datetime | None
    closed_at: datetime | None
    closed_by: str | None
    close_note: str | None
    signature: str | None
    approvals: tuple[Approval, ...] = field(default=())
    kind: str = BYPASS
    sql_sha256: str | None = None  # manual_fix: the SQL run by hand, as recorded (never run by us)
    sql_bytes: int | None = None
    sql_text: str | None = None

    def time_left(self, now: datetime) -> timedelta:
        if self.status != "active" or self.expires_at is None:
            return timedelta(0)
        return max(self.expires_at - now, timedelta(0))

    @property
    def approvers(self) -> tuple[str, ...]:
        return tuple(a.approver for a in self.approvals if a.decision == "approve")


@dataclass(frozen=True)
class Honoured:
    """The gate's question answered: the bypass that covers a suite now, or why none does."""

    request: BypassRequest | None
    problems: tuple[str, ...]
    never_allowed: bool = False  # pii / financial / compliance: no bypass can ever cover it


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor: str
    action: str
    details: dict[str, Any]


# --- reads ---------------------------------------------------------------------------------


def suite_terms(conn: Connection, suite: str) -> SuiteTerms:
    row = conn.execute(sa.select(suites).where(suites.c.name == suite)).first()
    if row is None:
        raise NotFound(
            f"suite {suite!r} is not in the store. Hint: run `python manage.py load_dq_rules` or check the name."
        )
    return _terms(conn, row)


def _terms(conn: Connection, row: Any) -> SuiteTerms:
    table = table_classes.in_force_in(conn, row.source, row.table_name)
    classes = tuple(sorted(set(table.classes) | set(row.data_classes or ())))
    return SuiteTerms(row.name, row.table_name, row.layer, classes, row.source, table.problems)


def bypassable_suites(engine: Engine | None = None) -> list[SuiteTerms]:
    """Suites a request may name: enabled, not never-allowed, and with a layer in the matrix."""
    matrix = approval_matrix.load()
    with db.read(engine) as conn:
        rows = conn.execute(sa.select(suites).where(suites.c.enabled.is_(True)).order_by(suites.c.name)).all()
        terms = [_terms(conn, r) for r in rows]
    return [t for t in terms if not matrix.forbidden_classes(t.data_classes) and matrix.policy(t.layer)]


def get(request_id: int, engine: Engine | None = None) -> BypassRequest:
    with db.read(engine) as conn:
        return _load(conn, request_id)


def list_requests(statuses: Sequence[str] | None = None, engine: Engine | None = None) -> list[BypassRequest]:
    query = sa.select(bypass_requests.c.id).order_by(bypass_requests.c.id.desc())
    if statuses:
        query = query.where(bypass_requests.c.status.in_(list(statuses)))
    with db.read(engine) as conn:
        return [_load(conn, rid) for rid in conn.execute(query).scalars()]


def history(request_id: int, engine: Engine | None = None) -> tuple[BypassRequest, list[AuditEntry]]:
    """The request with its approvals and every audit row about it, oldest first."""
    with db.read(engine) as conn:
        request = _load(conn, request_id)
        rows = conn.execute(
            sa.select(audit_log)
            .where(audit_log.c.entity == "bypass", audit_log.c.entity_id == str(request_id))
            .order_by(audit_log.c.id)
        ).all()
    return request, [AuditEntry(r.at, r.actor, r.action, dict(r.details or {})) for r in rows]


def silenced_alerts(request: BypassRequest, *, engine: Engine | None = None) -> list[dict[str, Any]]:
    """Alerts of the bypassed suite suppressed while the bypass was active, newest first."""
    if request.activated_at is None:
        return []
    end = request.closed_at or request.expires_at
    query = (
        sa.select(alerts.c.id, alerts.c.rule_name, alerts.c.severity, alerts.c.kind, alerts.c.created_at,
                  alerts.c.suppressed_reason)
        .where(alerts.c.suite == request.suite, alerts.c.status == "suppressed",
               alerts.c.created_at >= request.activated_at)
        .order_by(alerts.c.id.desc())
    )
    if end is not None:
        query = query.where(alerts.c.created_at <= end)
    with db.read(engine) as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def _load(conn: Connection, request_id: int) -> BypassRequest:
    row = conn.execute(sa.select(bypass_requests).where(bypass_requests.c.id == request_id)).first()
    if row is None:
        raise NotFound(f"bypass request #{request_id} does not exist. Hint: list them with `python manage.py bypass list`.")
    approvals = conn.execute(
        sa.select(bypass_approvals).where(bypass_approvals.c.request_id == request_id).order_by(bypass_approvals.c.id)
    ).all()
    values = dict(row._mapping)
    values["data_classes"] = tuple(values["data_classes"] or ())
    values["violation_ids"] = tuple(values["violation_ids"] or ())
    values["approvals"] = tuple(
        Approval(a.approver, a.role, a.decision, a.reason, a.decided_at) for a in approvals
    )
    return BypassRequest(**values)


# --- state changes -------------------------------------------------------------------------


def create_request(
    user: Actor, new: NewRequest, *, blocking: Severities = gate_reads.ALWAYS_BLOCKING, engine: Engine | None = None
) -> int:
    """Record a pending request after checking the table may be bypassed, is blocked, and the checklist is complete."""
    with _refusal(user, "request", new.suite, None, engine):
        return _create_request(user, new, blocking, engine)


def _create_request(user: Actor, new: NewRequest, blocking: Severities, engine: Engine | None) -> int:
    matrix = approval_matrix.load()
    actor = _require_known(user, "request a bypass")
    check_checklist(new, "bypass request")
    now = clock.trusted_utcnow()
    with db.write(engine) as conn:
        terms = suite_terms(conn, new.suite)
        policy = _policy_or_refuse(matrix, terms)
        _check_duration(policy, terms, new.duration_hours)
        _require_blocked(conn, terms.name, blocking)
        request_id = insert_request(conn, new, terms, actor, now)
        audit.record(
            conn, actor, "bypass.requested", "bypass", request_id, suite=terms.name,
            table=terms.table_name, layer=terms.layer, duration_hours=float(new.duration_hours),
            incident_id=new.incident_id.strip(), needs=list(policy.approvers),
        )
    return request_id


def approve(
    user: Actor, request_id: int, *, blocking: Severities = gate_reads.ALWAYS_BLOCKING, engine: Engine | None = None
) -> BypassRequest:
    """Record one approval; the request becomes active, signed, once every matrix role is covered."""
    with _refusal(user, "approve", None, request_id, engine):
        return _approve(user, request_id, blocking, engine)


def _approve(user: Actor, request_id: int, blocking: Severities, engine: Engine | None) -> BypassRequest:
    matrix = approval_matrix.load()
    actor = _require_known(user, "approve a bypass")
    now = clock.trusted_utcnow()
    with db.write(engine) as conn:
        request = _pending(conn, request_id)
        terms = suite_terms(conn, request.suite)
        policy = _policy_or_refuse(matrix, terms)
        _refuse_self(actor, request, "approve")
        forged = _forged_approvals(conn, request_id)
        if forged:
            raise PolicyViolation(
                f"bypass #{request_id} cannot be approved: {'; '.join(forged)}. "
                "Hint: the store was edited; reject the request and file a new one."
            )
        if request.kind == BYPASS:  # a manual fix is a record of what was done: no window, no gate to open
            _check_duration(policy, terms, request.duration_hours)
            _require_blocked(conn, terms.name, blocking)
        if actor.lower() in {a.lower() for a in request.approvers}:
            raise PolicyViolation(
                f"{actor} has already approved bypass #{request_id}. "
                "Hint: the matrix needs a different person for each role."
            )
        role = _open_role(user, policy, request)
        _insert_approval(conn, request_id=request_id, approver=actor, role=role, decision="approve", reason=None,
                         decided_at=now)
        audit.record(conn, actor, "bypass.approved", "bypass", request_id, role=role, suite=request.suite)
        covered = {a.role for a in request.approvals if a.decision == "approve"} | {role}
        if covered >= set(policy.approvers) and request.kind == MANUAL_FIX:
            _close(conn, request, "recorded", actor, "approved per the matrix", now)
        elif covered >= set(policy.approvers):
            _activate(conn, request, [*request.approvers, actor], now)
        return _load(conn, request_id)


def reject(user: Actor, request_id: int, reason: str, *, engine: Engine | None = None) -> BypassRequest:
    with _refusal(user, "reject", None, request_id, engine):
        return _reject(user, request_id, reason, engine)


def _reject(user: Actor, request_id: int, reason: str, engine: Engine | None) -> BypassRequest:
    if not (reason or "").strip():
        raise PolicyViolation(f"rejecting bypass #{request_id} needs a reason. Hint: say why, for the incident ticket.")
    matrix = approval_matrix.load()
    actor = _require_known(user, "reject a bypass")
    now = clock.trusted_utcnow()
    with db.write(engine) as conn:
        request = _pending(conn, request_id)
        _refuse_self(actor, request, "reject")
        if actor.lower() in {a.approver.lower() for a in request.approvals}:
            raise PolicyViolation(
                f"{actor} has already approved bypass #{request_id}. "
                "Hint: ask another approver to reject it, or roll it back once it is active."
            )
        policy = matrix.policy(request.layer)
        roles_needed = policy.approvers if policy else approval_matrix.APPROVER_ROLES
        role = next((r for r in roles_needed if user.has(r)), None)
        if role is None:
            raise PolicyViolation(
                f"{actor} holds none of {list(roles_needed)} and cannot decide bypass #{request_id}. "
                "Hint: ask an approver named in config/approval_matrix.yaml."
            )
        _insert_approval(conn, request_id=request_id, approver=actor, role=role, decision="reject",
                         reason=reason.strip(), decided_at=now)
        _close(conn, request, "rejected", actor, reason.strip(), now)
        return _load(conn, request_id)


def restore(user: Actor, request_id: int, note: str, *, engine: Engine | None = None) -> BypassRequest:
    """End an active bypass early: the DQ gate is enforced again from now on."""
    return _end_active(user, request_id, note, "restored", engine)


def rollback(user: Actor, request_id: int, reason: str, *, engine: Engine | None = None) -> BypassRequest:
    """Disable an active bypass now and queue a notification for the stakeholders."""
    return _end_active(user, request_id, reason, "rolled_back", engine)


def record_verification(
    actor: str, request_id: int, run_id: int | None, passed: bool, summary: str, *, engine: Engine | None = None
) -> None:
    """After a restore: the re-run of the suite and whether the gate passes again."""
    with db.write(engine) as conn:
        _load(conn, request_id)
        audit.record(
            conn, actor, "bypass.verified", "bypass", request_id, run_id=run_id, passed=passed, summary=summary
        )


def expire_due(now: datetime | None = None, *, engine: Engine | None = None) -> list[int]:
    """Close every active bypass whose end time has passed; returns their ids."""
    now = now or clock.trusted_utcnow()
    with db.write(engine) as conn:
        due = conn.execute(
            sa.select(bypass_requests.c.id).where(
                bypass_requests.c.status == "active", bypass_requests.c.expires_at <= now
            )
        ).scalars().all()
        closed = []
        for request_id in due:
            request = _locked(conn, request_id)
            if request.status == "active":  # another scheduler replica may have been first
                _close(conn, request, "expired", HOUSEKEEPING_ACTOR, "expired at its end time", now)
                closed.append(request_id)
    return closed


def _end_active(user: Actor, request_id: int, note: str, status: str, engine: Engine | None) -> BypassRequest:
    verb = "restoring the DQ gate" if status == "restored" else "rolling back"
    if not (note or "").strip():
        raise PolicyViolation(f"{verb} for bypass #{request_id} needs a note. Hint: write the incident note.")
    actor = _require_known(user, verb)
    now = clock.trusted_utcnow()
    with db.write(engine) as conn:
        request = _locked(conn, request_id)
        if request.status != "active":
            raise InvalidTransition(
                f"bypass #{request_id} is {request.status}, not active. Hint: only an active bypass can be ended."
            )
        _close(conn, request, status, actor, note.strip(), now)
        if status == "rolled_back":
            _enqueue_rollback_alert(conn, request, actor, note.strip(), now)
        return _load(conn, request_id)


# --- the gate's question -------------------------------------------------------------------


def honoured_bypass(
    suite: str, now: datetime | None = None, *, blocking: Severities = gate_reads.ALWAYS_BLOCKING,
    engine: Engine | None = None,
) -> Honoured:
    """The active bypass the gate may honour for `suite` now, re-checked from scratch.

    Never trusts the row alone: the live suite's data classes and layer, the matrix, the
    approvals, the HMAC over the approved terms, the clock and the audit log must all agree,
    so an expired bypass fails even when housekeeping is late and an edited row fails always.
    A bypass ends for good once a complete run after its activation passes.
    """
    with db.read(engine) as conn:
        return honoured_in(conn, suite, now or clock.trusted_utcnow(), blocking)


def honoured_in(
    conn: Connection, suite: str, now: datetime, blocking: Severities = gate_reads.ALWAYS_BLOCKING
) -> Honoured:
    """honoured_bypass inside the caller's transaction (alerting silences only what the gate honours)."""
    matrix = approval_matrix.load()
    terms = suite_terms(conn, suite)
    forbidden = matrix.forbidden_classes(terms.data_classes)
    if forbidden:
        reason = f"{terms.table_name} holds {', '.join(forbidden)} data: it can never be bypassed"
        return Honoured(None, (reason,), never_allowed=True)
    if terms.record_problems:
        return Honoured(None, terms.record_problems, never_allowed=True)
    ids = conn.execute(
        sa.select(bypass_requests.c.id)
        .where(bypass_requests.c.suite == suite, bypass_requests.c.status == "active",
               bypass_requests.c.kind == BYPASS)
        .order_by(bypass_requests.c.id.desc())
    ).scalars().all()
    if not ids:
        return Honoured(None, (f"no approved bypass is active for {suite}",))
    problems: list[str] = []
    for request_id in ids:
        request = _load(conn, request_id)
        found = _problems(conn, matrix, terms, request, now, blocking)
        if not found:
            return Honoured(request, ())
        problems.extend(f"bypass #{request_id}: {p}" for p in found)
    return Honoured(None, tuple(problems))


def _problems(
    conn: Connection, matrix: approval_matrix.ApprovalMatrix, terms: SuiteTerms, request: BypassRequest,
    now: datetime, blocking: Severities = gate_reads.ALWAYS_BLOCKING,
) -> list[str]:
    policy = matrix.policy(terms.layer)
    if policy is None:
        return [f"layer {terms.layer} has no entry in the approval matrix"]
    if request.activated_at is None or request.expires_at is None:
        return ["it was never activated"]
    problems = []
    if now >= request.expires_at:
        problems.append(f"it expired at {request.expires_at:%Y-%m-%d %H:%M} UTC")
    if now < request.activated_at:
        problems.append(f"it starts only at {request.activated_at:%Y-%m-%d %H:%M} UTC")
    if request.table_name != terms.table_name:
        problems.append(f"its suite now checks {terms.table_name}, not the approved {request.table_name}")
    if sorted(request.data_classes) != sorted(terms.data_classes):
        problems.append(
            f"the table's data classes changed since it was requested ({list(request.data_classes)} -> "
            f"{list(terms.data_classes)})"
        )
    passed = _passed_since(conn, request.suite, request.activated_at, blocking)
    if passed is not None:
        problems.append(
            f"the suite passed again in run #{passed.run_id} ({passed.started_at:%Y-%m-%d %H:%M} UTC): the bypass ended"
        )
    if request.expires_at - request.activated_at > timedelta(hours=policy.max_hours):
        problems.append(f"it lasts longer than the matrix allows for {terms.layer} ({policy.max_hours:g} h)")
    if not bypass_signing.verify(
        request.signature, request.id, request.suite, request.table_name, request.activated_at,
        request.expires_at, request.approvers,
    ):
        problems.append("its signature does not match the approved terms (the row was edited)")
    problems.extend(_approval_problems(request, policy))
    problems.extend(_forged_approvals(conn, request.id))
    closed = conn.execute(
        sa.select(audit_log.c.action).where(
            audit_log.c.entity == "bypass", audit_log.c.entity_id == str(request.id),
            audit_log.c.action.in_(CLOSING_ACTIONS),
        )
    ).first()
    if closed is not None:
        problems.append(f"the audit log says it was closed ({closed.action})")
    return problems


def _approval_problems(request: BypassRequest, policy: approval_matrix.LayerPolicy) -> list[str]:
    approvals = [a for a in request.approvals if a.decision == "approve"]
    people = {a.approver.lower() for a in approvals}
    problems = []
    if request.requested_by.lower() in people:
        problems.append("its requester approved it")
    if len(people) != len(approvals):
        problems.append("one person approved it twice")
    missing = set(policy.approvers) - {a.role for a in approvals}
    if missing:
        problems.append(f"it lacks approval by {sorted(missing)}")
    return problems


# --- a bypass only while the suite is blocked ------------------------------------------------


def _require_blocked(conn: Connection, suite: str, blocking: Severities) -> gate_reads.RunRow:
    run = gate_reads.latest_complete_in(conn, suite)
    if run is None:
        raise PolicyViolation(
            f"{suite} has no complete run, so no DQ failure is blocking it. "
            f"Hint: run `python manage.py run_dq_checks --suite {suite}`; a bypass is allowed only while a blocking rule fails."
        )
    if not gate_reads.blocking_failures(run, tuple(blocking)):
        raise PolicyViolation(
            f"{suite} has no blocking rule failing in its latest complete run #{run.run_id} "
            f"({run.started_at:%Y-%m-%d %H:%M} UTC). Hint: the failover runbook allows a bypass only while a "
            "DQ failure is blocking; nothing needs bypassing."
        )
    return run


def _passed_since(conn: Connection, suite: str, since: datetime, blocking: Severities) -> gate_reads.RunRow | None:
    """The oldest complete run since `since` with no blocking failure, if any."""
    runs = gate_reads.complete_runs_in(conn, suite, since=since)
    passing = [r for r in runs if not r.error and not gate_reads.blocking_failures(r, tuple(blocking))]
    return passing[-1] if passing else None


def end_passed(
    suite: str | None = None, now: datetime | None = None, *, actor: str = HOUSEKEEPING_ACTOR,
    blocking: Severities = gate_reads.ALWAYS_BLOCKING, engine: Engine | None = None,
) -> list[int]:
    """End every active bypass (of `suite`) whose suite passed a complete run since activation; notify."""
    now = now or clock.trusted_utcnow()
    query = sa.select(bypass_requests.c.id).where(bypass_requests.c.status == "active")
    if suite is not None:
        query = query.where(bypass_requests.c.suite == suite)
    ended = []
    with db.write(engine) as conn:
        for request_id in conn.execute(query).scalars().all():
            request = _locked(conn, request_id)
            if request.status != "active" or request.activated_at is None:
                continue
            passed = _passed_since(conn, request.suite, request.activated_at, blocking)
            if passed is None:
                continue
            note = f"{request.suite} passes again (run #{passed.run_id}): the DQ gate is enforced again"
            _close(conn, request, "ended", actor, note, now)
            _enqueue_notice(conn, request, "bypass.ended", actor, note, now,
                            f"Bypass #{request.id} on {request.table_name} ENDED: {note}. Incident {request.incident_id}.")
            ended.append(request_id)
    return ended


@contextmanager
def _refusal(user: Actor, step: str, suite: str | None, request_id: int | None, engine: Engine | None) -> Iterator[None]:
    """Audit `bypass.refused` (after the refused transaction rolled back) and re-raise."""
    try:
        yield
    except (PolicyViolation, InvalidTransition) as exc:
        if suite is None and request_id is not None:
            with db.read(engine) as conn:
                row = conn.execute(sa.select(bypass_requests.c.suite).where(bypass_requests.c.id == request_id)).first()
            suite = row.suite if row is not None else None
        with db.write(engine) as conn:
            audit.record(conn, (user.name or "").strip() or "anonymous", "bypass.refused", "bypass", request_id,
                         step=step, suite=suite, request_id=request_id, reason=str(exc))
        raise


# --- helpers -------------------------------------------------------------------------------


def check_checklist(new: NewRequest, what: str) -> None:
    missing = [label for name, label in CHECKLIST_FIELDS if not str(getattr(new, name) or "").strip()]
    if missing:
        raise PolicyViolation(
            f"{what} for {new.suite} lacks {', '.join(missing)}. "
            "Hint: every item of the pre-approval checklist is required."
        )
    check_incident_url(new.incident_url)


def insert_request(conn: Connection, new: NewRequest, terms: SuiteTerms, actor: str, now: datetime,
                   **extra: Any) -> int:
    """The pending row of a checklist (a bypass request, or with `kind` a manual fix); its id."""
    values = dict(
        suite=terms.name, table_name=terms.table_name, layer=terms.layer,
        data_classes=list(terms.data_classes), requested_by=actor, requested_at=now,
        incident_id=new.incident_id.strip(), incident_url=new.incident_url.strip(),
        failure_details=new.failure_details, run_id=new.run_id,
        violation_ids=list(new.violation_ids), business_impact=new.business_impact,
        duration_hours=float(new.duration_hours), impact_assessment=new.impact_assessment,
        rollback_plan=new.rollback_plan, fix_timeline=new.fix_timeline,
        alternative_plan=new.alternative_plan, status="pending",
    ) | extra
    inserted = conn.execute(bypass_requests.insert().values(**values)).inserted_primary_key
    assert inserted is not None
    return int(inserted[0])


def check_incident_url(url: str) -> None:
    if not url.strip().lower().startswith(("https://", "http://")):
        raise PolicyViolation(
            f"incident ticket link {url!r} is not a web address. "
            "Hint: paste the JIRA/ServiceNow URL, e.g. https://jira.example.com/browse/INC-1234."
        )


def _require_known(user: Actor, what: str) -> str:
    """The actor's name, once we know they hold a role (roles are resolved by ops.roles)."""
    if not (user.name or "").strip():
        raise PolicyViolation(f"an anonymous user cannot {what}. Hint: sign in.")
    if not user.roles:
        raise PolicyViolation(
            f"{user.name} has no role and cannot {what}. Hint: add the user to config/roles.yaml."
        )
    return user.name


def _policy_or_refuse(
    matrix: approval_matrix.ApprovalMatrix, terms: SuiteTerms
) -> approval_matrix.LayerPolicy:
    forbidden = matrix.forbidden_classes(terms.data_classes)
    if forbidden:
        raise PolicyViolation(
            f"{terms.table_name} (suite {terms.name}) holds {', '.join(forbidden)} data and can NEVER be bypassed "
            "(failover runbook). Hint: fix the data or the rule; use the alternative remediation plan."
        )
    policy = matrix.policy(terms.layer)
    if policy is None:
        raise PolicyViolation(
            f"layer {terms.layer!r} of suite {terms.name} has no entry in {matrix.file}. "
            "Hint: add it under `layers` or fix the suite's layer."
        )
    return policy


def _check_duration(policy: approval_matrix.LayerPolicy, terms: SuiteTerms, hours: float) -> None:
    if hours <= 0:
        raise PolicyViolation(f"bypass duration must be positive, got {hours:g} h. Hint: e.g. 6.")
    if hours > policy.max_hours:
        raise PolicyViolation(
            f"a {terms.layer} bypass may last at most {policy.max_hours:g} h (approval matrix); "
            f"{hours:g} h was asked for {terms.name}. Hint: ask for {policy.max_hours:g} h or less and renew if needed."
        )


def _locked(conn: Connection, request_id: int) -> BypassRequest:
    """The request, its row locked until commit (PostgreSQL), so concurrent decisions serialize.

    Without it two approvers of a gold request deciding at once would each see only their own
    approval and neither would activate it. SQLite's BEGIN IMMEDIATE already serializes writers.
    """
    conn.execute(sa.select(bypass_requests.c.id).where(bypass_requests.c.id == request_id).with_for_update())
    return _load(conn, request_id)


def _pending(conn: Connection, request_id: int) -> BypassRequest:
    request = _locked(conn, request_id)
    if request.status != "pending":
        raise InvalidTransition(
            f"bypass #{request_id} is {request.status}, not pending. Hint: only a pending request can be decided."
        )
    return request


def _refuse_self(actor: str, request: BypassRequest, verb: str) -> None:
    if actor.lower() == request.requested_by.lower():
        raise PolicyViolation(
            f"{actor} requested bypass #{request.id} and cannot {verb} it (four eyes). "
            "Hint: ask another approver named in config/approval_matrix.yaml."
        )


def _open_role(user: Actor, policy: approval_matrix.LayerPolicy, request: BypassRequest) -> str:
    covered = {a.role for a in request.approvals if a.decision == "approve"}
    needed = [r for r in policy.approvers if r not in covered]
    # Prefer a role the user holds by name over one an admin holds implicitly.
    for role in sorted(needed, key=lambda r: r not in user.roles):
        if user.has(role):
            return role
    raise PolicyViolation(
        f"{user.name} holds none of the roles bypass #{request.id} still needs ({', '.join(needed)}). "
        f"Hint: {request.layer} bypasses need {' + '.join(policy.approvers)}, each a different person."
    )


def _insert_approval(conn: Connection, **values: Any) -> None:
    """One signed decision row: a forged, edited or copied approval then fails its signature."""
    conn.execute(bypass_approvals.insert().values(**values, signature=audit.sign_approval(values)))


def _forged_approvals(conn: Connection, request_id: int) -> list[str]:
    rows = conn.execute(sa.select(bypass_approvals).where(bypass_approvals.c.request_id == request_id)).all()
    return audit.approval_problems(rows)


def _activate(conn: Connection, request: BypassRequest, approvers: list[str], now: datetime) -> None:
    activated = now.replace(microsecond=0)
    expires = activated + timedelta(hours=request.duration_hours)
    signature = bypass_signing.sign(request.id, request.suite, request.table_name, activated, expires, approvers)
    conn.execute(
        bypass_requests.update().where(bypass_requests.c.id == request.id).values(
            status="active", activated_at=activated, expires_at=expires, signature=signature
        )
    )
    audit.record(
        conn, approvers[-1], "bypass.activated", "bypass", request.id, suite=request.suite,
        table=request.table_name, activated_at=activated.isoformat(), expires_at=expires.isoformat(),
        approvers=sorted(approvers),
    )


def _close(conn: Connection, request: BypassRequest, status: str, actor: str, note: str, now: datetime) -> None:
    conn.execute(
        bypass_requests.update().where(bypass_requests.c.id == request.id).values(
            status=status, closed_at=now, closed_by=actor, close_note=note
        )
    )
    audit.record(
        conn, actor, f"bypass.{status}", "bypass", request.id, suite=request.suite,
        previous=request.status, note=note,
    )


def _enqueue_rollback_alert(conn: Connection, request: BypassRequest, actor: str, reason: str, now: datetime) -> None:
    _enqueue_notice(
        conn, request, "bypass.rolled_back", actor, reason, now,
        f"Bypass #{request.id} on {request.table_name} was ROLLED BACK by {actor}: {reason}. "
        f"The DQ gate is enforced again. Incident {request.incident_id}.",
    )


def _enqueue_notice(
    conn: Connection, request: BypassRequest, event: str, actor: str, reason: str, now: datetime, text: str
) -> None:
    conn.execute(
        alerts.insert().values(
            # A pending `store` row without destination is a notice: alerting routes it to the
            # suite's team (alerting/notices.py) and keeps this row as the console's copy.
            suite=request.suite, severity="HIGH", kind="bypass", channel="store",
            dedup_key=f"bypass-{request.id}-{event.removeprefix('bypass.').replace('rolled_back', 'rollback')}",
            status="pending", attempts=0, created_at=now,
            payload={
                "event": event, "request_id": request.id, "suite": request.suite,
                "table": request.table_name, "incident_id": request.incident_id,
                "incident_url": request.incident_url, "by": actor, "reason": reason, "text": text,
            },
        )
    )
