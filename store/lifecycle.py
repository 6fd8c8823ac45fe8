"""Rule lifecycle in the store: enable, disable and retire a rule with a reason, versioned and audited.

States: `active` (enabled), `disabled`, `retired` (kept with its whole history, never run).
A rule `removed` from the manifests comes back only through `load_dq_rules`. Retiring a rule
resolves its open and acknowledged violations (resolution `other`, the reason as note): a rule
that never runs again could never resolve them itself. Disabling leaves them as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

import clock
from store import audit, db
from store.errors import InvalidTransition, NotFound
from store.schema import rule_versions, rules, violations

STATES = ("enabled", "disabled", "retired")
_ALIASES = {"active": "enabled"}  # the status name, as the console's Rules page offers it
_STATUS = {"enabled": "active", "disabled": "disabled", "retired": "retired"}
# From status -> the states it may move to.
_ALLOWED = {
    "active": ("disabled", "retired"),
    "disabled": ("enabled", "retired"),
    "retired": ("enabled",),
    "removed": (),
}


@dataclass(frozen=True)
class RuleState:
    name: str
    suite: str
    status: str
    enabled: bool
    reason: str | None
    version: int
    violations_resolved: tuple[int, ...] = ()


def set_rule_state(rule_name: str, state: str, actor: str, reason: str, engine: Engine | None = None) -> RuleState:
    """Move a rule to `state` in one transaction: the rule row, a rule_versions row and an audit row."""
    state = checked_state(rule_name, state, reason)
    with db.write(engine) as conn:
        return _apply(conn, movable_rule(conn, rule_name, state), state, actor, reason.strip())


def checked_state(rule_name: str, state: str, reason: str) -> str:
    """The state's canonical name, once it is a known state and a reason is given."""
    state = _ALIASES.get(state, state)
    if state not in STATES:
        raise InvalidTransition(f"unknown rule state {state!r}. Hint: use one of {', '.join(STATES)}.")
    if not reason or not reason.strip():
        raise InvalidTransition(f"a reason is required to set rule {rule_name!r} {state}. Hint: pass --reason \"why\".")
    return state


def movable_rule(conn: Connection, rule_name: str, state: str) -> sa.Row:
    """The rule's row, once it may move to `state` from where it is."""
    row = _rule(conn, rule_name)
    if state not in _ALLOWED.get(row.status, ()):
        raise InvalidTransition(_refusal(rule_name, row.status, state))
    return row


def apply_in(conn: Connection, row: sa.Row, state: str, actor: str, reason: str) -> RuleState:
    """Move the rule inside the caller's transaction (an approved rule change request)."""
    return _apply(conn, row, state, actor, reason.strip())


def _rule(conn: Connection, rule_name: str) -> sa.Row:
    row = conn.execute(sa.select(rules).where(rules.c.name == rule_name)).first()
    if row is None:
        raise NotFound(f"no rule named {rule_name!r} in the store. Hint: `python manage.py rules list` shows the names; load new rules with load_dq_rules.")
    return row


def _refusal(rule_name: str, status: str, state: str) -> str:
    if status == "removed":
        return f"rule {rule_name!r} was removed from the manifests and cannot be {state}. Hint: add it back to its manifest and run `python manage.py load_dq_rules`."
    if _STATUS[state] == status:
        return f"rule {rule_name!r} is already {status}. Hint: nothing to do."
    allowed = " or ".join(_ALLOWED[status]) or "nothing"
    return f"rule {rule_name!r} is {status} and cannot be {state}. Hint: a {status} rule can be {allowed}."


def _apply(conn: Connection, row: sa.Row, state: str, actor: str, reason: str) -> RuleState:
    now = clock.utcnow()
    status, enabled = _STATUS[state], state == "enabled"
    version = max(row.version, _latest_version(conn, row.name)) + 1
    conn.execute(
        rules.update()
        .where(rules.c.id == row.id)
        .values(enabled=enabled, status=status, status_reason=reason, version=version, updated_at=now)
    )
    diff = {"status": [row.status, status], "enabled": [row.enabled, enabled]}
    conn.execute(
        rule_versions.insert().values(
            rule_name=row.name, version=version, change=state, definition=row.definition,
            diff=diff, changed_by=actor, changed_at=now, reason=reason,
        )
    )
    audit.record(conn, actor, f"rule.{state}", "rule", row.name, reason=reason, status=[row.status, status], version=version)
    resolved = _resolve_open_violations(conn, row.name, actor, reason, now) if state == "retired" else ()
    return RuleState(row.name, row.suite, status, enabled, reason, version, resolved)


def _resolve_open_violations(conn: Connection, rule_name: str, actor: str, reason: str, now: datetime) -> tuple[int, ...]:
    open_ones = conn.execute(
        sa.select(violations.c.id, violations.c.status)
        .where(violations.c.rule_name == rule_name, violations.c.status != "resolved")
        .order_by(violations.c.id)
    ).all()
    note = f"rule retired: {reason}"
    for violation_id, previous in open_ones:
        values: dict[str, object] = {"status": "resolved", "resolved_at": now, "resolved_by": actor,
                                     "resolution": "other", "resolution_note": note}
        if previous == "open":  # as a hand resolution: someone looked at it
            values.update(acknowledged=True, acknowledged_by=actor, acknowledged_at=now)
        conn.execute(violations.update().where(violations.c.id == violation_id).values(**values))
        audit.record(conn, actor, "violation.resolved", "violation", violation_id, resolution="other", note=note, previous=previous)
    return tuple(int(i) for i, _ in open_ones)


def _latest_version(conn: Connection, rule_name: str) -> int:
    latest = conn.execute(sa.select(sa.func.max(rule_versions.c.version)).where(rule_versions.c.rule_name == rule_name)).scalar()
    return int(latest or 0)


def list_rules(*, suite: str | None = None, status: str | None = None, engine: Engine | None = None) -> list[RuleState]:
    """Every rule in the store (retired and removed ones included), by suite and name."""
    query = sa.select(rules.c.name, rules.c.suite, rules.c.status, rules.c.enabled, rules.c.status_reason, rules.c.version)
    if suite is not None:
        query = query.where(rules.c.suite == suite)
    if status is not None:
        query = query.where(rules.c.status == status)
    with db.read(engine) as conn:
        return [RuleState(*row) for row in conn.execute(query.order_by(rules.c.suite, rules.c.name))]


def history(rule_name: str, engine: Engine | None = None) -> list[sa.Row]:
    """Every version of a rule (retired ones included), oldest first."""
    query = sa.select(rule_versions).where(rule_versions.c.rule_name == rule_name).order_by(rule_versions.c.version)
    with db.read(engine) as conn:
        return list(conn.execute(query))
