"""A second person for sensitive rules: disabling or retiring a HIGH or CRITICAL rule on a pii, financial
or compliance table files a pending request; a data_eng_lead (or admin) other than its author approves
it, and only then the rule changes, in the approval's transaction. Every step writes its audit row; a
refused decision writes `rule_change.refused`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

import clock
from store import audit, db, lifecycle, refusals, table_classes
from store.errors import InvalidTransition, NotFound, PolicyViolation
from store.lifecycle import RuleState
from store.schema import rule_change_requests
from store.table_classes import SENSITIVE, Actor

GUARDED_SEVERITIES = ("HIGH", "CRITICAL")
GUARDED_CHANGES = ("disabled", "retired")
APPROVERS = ("data_eng_lead", "admin")
HINT = "a data_eng_lead other than the author runs `python manage.py rules approve-change ID` (or the Rules page)"


@dataclass(frozen=True)
class RuleChange:
    id: int
    rule_name: str
    suite: str
    change: str
    severity: str
    data_classes: tuple[str, ...]
    reason: str
    requested_by: str
    requested_at: datetime
    status: str
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None


def sensitive_classes(conn: Connection, row: sa.Row, state: str) -> tuple[str, ...]:
    """The table's sensitive classes when moving this rule to `state` needs a second person, else ()."""
    if state not in GUARDED_CHANGES or row.severity not in GUARDED_SEVERITIES:
        return ()
    classes = table_classes.in_force_in(conn, row.source, row.table_name).classes
    return tuple(sorted(set(classes) & SENSITIVE))


def request_or_apply(rule_name: str, state: str, actor: str, reason: str,
                     engine: Engine | None = None) -> RuleState | RuleChange:
    """Change the rule now, or, on a sensitive table, file the pending request a second person decides."""
    state = lifecycle.checked_state(rule_name, state, reason)
    with db.write(engine) as conn:
        row = lifecycle.movable_rule(conn, rule_name, state)
        classes = sensitive_classes(conn, row, state)
        if not classes:
            return lifecycle.apply_in(conn, row, state, actor, reason)
        if _pending_for(conn, rule_name):
            raise InvalidTransition(f"rule {rule_name!r} already has a pending change request. Hint: {HINT}, "
                                    "or reject that one first.")
        inserted = conn.execute(rule_change_requests.insert().values(
            rule_name=row.name, suite=row.suite, change=state, severity=row.severity, data_classes=list(classes),
            reason=reason.strip(), requested_by=actor, requested_at=clock.utcnow(), status="pending",
        )).inserted_primary_key
        assert inserted is not None
        change_id = int(inserted[0])
        audit.record(conn, actor, "rule.change_requested", "rule", row.name, change_id=change_id, change=state,
                     severity=row.severity, data_classes=list(classes), reason=reason.strip())
        return _get(conn, change_id)


def approve(user: Actor, change_id: int, *, engine: Engine | None = None) -> tuple[RuleChange, RuleState]:
    """A data_eng_lead other than the author approves: the rule changes in the same transaction."""
    with refusals.audited(user.name, "rule_change.refused", "rule_change", change_id, engine, change_id=change_id), db.write(engine) as conn:
        change = _decidable(conn, user, change_id, "approve")
        row = lifecycle.movable_rule(conn, change.rule_name, change.change)
        state = lifecycle.apply_in(conn, row, change.change, user.name, f"{change.reason} (requested by "
                                   f"{change.requested_by}, approved by {user.name})")
        _decide(conn, change, "approved", user.name, None)
        return _get(conn, change_id), state


def reject(user: Actor, change_id: int, note: str, *, engine: Engine | None = None) -> RuleChange:
    """Refuse the change: the rule stays as it is."""
    with refusals.audited(user.name, "rule_change.refused", "rule_change", change_id, engine, change_id=change_id):
        if not (note or "").strip():
            raise PolicyViolation(f"rejecting rule change #{change_id} needs a reason. Hint: say why, for its author.")
        with db.write(engine) as conn:
            change = _decidable(conn, user, change_id, "reject")
            _decide(conn, change, "rejected", user.name, note.strip())
            return _get(conn, change_id)


def pending(rule_name: str | None = None, engine: Engine | None = None) -> list[RuleChange]:
    """Pending requests, oldest first (of one rule, or all)."""
    query = sa.select(rule_change_requests).where(rule_change_requests.c.status == "pending")
    if rule_name is not None:
        query = query.where(rule_change_requests.c.rule_name == rule_name)
    with db.read(engine) as conn:
        return [_change(r) for r in conn.execute(query.order_by(rule_change_requests.c.id))]


def get(change_id: int, engine: Engine | None = None) -> RuleChange:
    with db.read(engine) as conn:
        return _get(conn, change_id)


def _decide(conn: Connection, change: RuleChange, status: str, actor: str, note: str | None) -> None:
    conn.execute(rule_change_requests.update().where(rule_change_requests.c.id == change.id).values(
        status=status, decided_by=actor, decided_at=clock.utcnow(), decision_note=note))
    audit.record(conn, actor, f"rule.change_{status}", "rule", change.rule_name, change_id=change.id,
                 change=change.change, requested_by=change.requested_by, note=note)


def _decidable(conn: Connection, user: Actor, change_id: int, verb: str) -> RuleChange:
    row = conn.execute(
        sa.select(rule_change_requests).where(rule_change_requests.c.id == change_id).with_for_update()
    ).first()
    if row is None:
        raise NotFound(f"rule change #{change_id} does not exist. Hint: `python manage.py rules changes` lists them.")
    change = _change(row)
    if change.status != "pending":
        raise InvalidTransition(f"rule change #{change_id} is {change.status}, not pending. Hint: nothing to {verb}.")
    if not (user.name or "").strip():
        raise PolicyViolation(f"an anonymous user cannot {verb} rule change #{change_id}. Hint: sign in.")
    if user.name.strip().lower() == change.requested_by.strip().lower():
        raise PolicyViolation(f"{user.name} requested rule change #{change_id} and cannot {verb} it (four eyes). "
                              f"Hint: {HINT}.")
    if not any(user.has(role) for role in APPROVERS):
        raise PolicyViolation(f"{user.name} is not a data_eng_lead and cannot {verb} {change.change} "
                              f"{change.rule_name!r} on a {', '.join(change.data_classes)} table. Hint: {HINT}.")
    return change


def _pending_for(conn: Connection, rule_name: str) -> bool:
    query = sa.select(rule_change_requests.c.id).where(
        rule_change_requests.c.rule_name == rule_name, rule_change_requests.c.status == "pending")
    return conn.execute(query).first() is not None


def _get(conn: Connection, change_id: int) -> RuleChange:
    row = conn.execute(sa.select(rule_change_requests).where(rule_change_requests.c.id == change_id)).first()
    if row is None:
        raise NotFound(f"rule change #{change_id} does not exist. Hint: `python manage.py rules changes` lists them.")
    return _change(row)


def _change(row: sa.Row) -> RuleChange:
    return RuleChange(
        id=row.id, rule_name=row.rule_name, suite=row.suite, change=row.change, severity=row.severity,
        data_classes=tuple(row.data_classes or ()), reason=row.reason, requested_by=row.requested_by,
        requested_at=row.requested_at, status=row.status, decided_by=row.decided_by, decided_at=row.decided_at,
        decision_note=row.decision_note,
    )
