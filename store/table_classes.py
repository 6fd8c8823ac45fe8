"""Data classes belong to the table: the classes in force, their union over suites, approved removals.

A table is its source plus its qualified table name. Its classes in force are the union over
every enabled suite naming it and the signed `table_classes` row, which only grows on a load
(an added class takes effect at once) and shrinks only when a data_eng_lead other than the
change's author approves the removal. Any change revokes the table's active and pending bypasses
for good. Every step writes its audit row; a refused approval is audited too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

import clock
from store import audit, bypass_signing, db
from store.errors import InvalidTransition, NotFound, PolicyViolation
from store.schema import audit_log, bypass_requests, class_changes, suites, table_classes

SENSITIVE = frozenset({"pii", "financial", "compliance"})
RECORDING_ACTIONS = ("classes.recorded", "classes.added", "classes.removal_approved")
HINT_REVIEW = "a data_eng_lead other than the author runs `python manage.py classes approve ID`"


class Actor(Protocol):
    """Who acts, with the roles config/roles.yaml gives them (ops.roles.User fits); bypass steps take one too."""

    @property
    def name(self) -> str: ...

    @property
    def roles(self) -> frozenset[str]: ...

    def has(self, role: str) -> bool: ...


@dataclass(frozen=True)
class InForce:
    classes: tuple[str, ...]
    problems: tuple[str, ...]  # records that fail their signature or disagree with the audit log


@dataclass(frozen=True)
class ClassChange:
    id: int
    source: str
    table_name: str
    current: tuple[str, ...]
    proposed: tuple[str, ...]
    proposed_by: str
    proposed_at: datetime
    status: str
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None

    @property
    def removed(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.current) - set(self.proposed)))

    @property
    def table(self) -> str:
        return f"{self.source}:{self.table_name}"


DEFAULT_SCHEMAS = ("public.", "main.")  # PostgreSQL's and SQLite's: `public.orders` is `orders`


def identity(source: str, table: str) -> tuple[str, str]:
    """One name per table, so `ORDERS`, `"orders"` and `public.orders` cannot dodge the classes of `orders`."""
    name = table.strip().replace('"', "").replace("`", "").lower()
    for prefix in DEFAULT_SCHEMAS:
        if name.startswith(prefix):
            name = name[len(prefix):]
    return source.strip().lower(), name


def _key(source: str, table: str) -> str:
    return ":".join(identity(source, table))


def _suites_of(conn: Connection, source: str, table: str, *, enabled_only: bool = True) -> list[Any]:
    """The suites rows naming the table under any spelling of its name."""
    wanted = identity(source, table)
    query = sa.select(suites.c.name, suites.c.source, suites.c.table_name, suites.c.data_classes,
                      suites.c.pii_columns, suites.c.enabled)
    if enabled_only:
        query = query.where(suites.c.enabled.is_(True))
    return [r for r in conn.execute(query) if identity(r.source, r.table_name) == wanted]


def _terms(source: str, table: str, classes: tuple[str, ...]) -> dict[str, object]:
    return {"source": source, "table": table, "classes": sorted(classes)}


# --- reads ---------------------------------------------------------------------------------


def declared(conn: Connection, source: str, table: str) -> tuple[str, ...]:
    """The union of the classes every enabled suite naming the table declares."""
    rows = _suites_of(conn, source, table)
    return tuple(sorted({str(c) for r in rows for c in (r.data_classes or ())}))


def in_force_in(conn: Connection, source: str, table: str) -> InForce:
    """The classes the gate and the bypass procedure apply, and any record that looks edited."""
    source, table = identity(source, table)
    classes = set(declared(conn, source, table))
    problems: list[str] = []
    row = conn.execute(
        sa.select(table_classes).where(table_classes.c.source == source, table_classes.c.table_name == table)
    ).first()
    recorded = _audited_classes(conn, source, table)
    if row is not None:
        stored = tuple(sorted(row.data_classes or ()))
        classes |= set(stored)
        if not bypass_signing.verify_terms(row.signature, "table_classes", _terms(source, table, stored)):
            problems.append(f"the table_classes row of {_key(source, table)} fails its signature (edited in the store)")
        if recorded is not None and tuple(sorted(recorded)) != stored:
            problems.append(
                f"the table_classes row of {_key(source, table)} says {list(stored)} but the audit log says "
                f"{sorted(recorded)}"
            )
    elif recorded is not None:
        problems.append(f"the table_classes row of {_key(source, table)} is missing (the audit log records it)")
    if recorded is not None:
        classes |= set(recorded)
    return InForce(tuple(sorted(classes)), tuple(problems))


def in_force(source: str, table: str, engine: Engine | None = None) -> tuple[str, ...]:
    with db.read(engine) as conn:
        return in_force_in(conn, source, table).classes


def _audited_classes(conn: Connection, source: str, table: str) -> list[str] | None:
    row = conn.execute(
        sa.select(audit_log.c.details)
        .where(audit_log.c.entity == "table", audit_log.c.entity_id == _key(source, table),
               audit_log.c.action.in_(RECORDING_ACTIONS))
        .order_by(audit_log.c.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return [str(c) for c in (row.details or {}).get("classes", [])]


def list_changes(statuses: tuple[str, ...] | None = None, engine: Engine | None = None) -> list[ClassChange]:
    query = sa.select(class_changes).order_by(class_changes.c.id.desc())
    if statuses:
        query = query.where(class_changes.c.status.in_(statuses))
    with db.read(engine) as conn:
        return [_change(r) for r in conn.execute(query)]


def pending_changes(engine: Engine | None = None) -> list[ClassChange]:
    return list_changes(("pending",), engine)


def _change(row: Any) -> ClassChange:
    return ClassChange(
        row.id, row.source, row.table_name, tuple(row.current or ()), tuple(row.proposed or ()), row.proposed_by,
        row.proposed_at, row.status, row.decided_by, row.decided_at, row.reason,
    )


# --- loading manifests -----------------------------------------------------------------------


def reconcile(conn: Connection, actor: str, now: datetime, loaded: set[tuple[str, str]] | None = None) -> None:
    """After a load: record new tables, apply added classes, propose removals (inside the load's transaction).

    `loaded` are the tables of the manifests just loaded: a pii one among them must have pii_columns
    in every suite naming it, or the load is refused.
    """
    keys = {identity(r.source, r.table_name) for r in conn.execute(sa.select(suites.c.source, suites.c.table_name))}
    keys |= {(r.source, r.table_name) for r in conn.execute(sa.select(table_classes.c.source, table_classes.c.table_name))}
    checked = {identity(*k) for k in loaded} if loaded is not None else keys
    for source, table in sorted(keys):
        _reconcile_table(conn, source, table, actor, now, (source, table) in checked)


def _reconcile_table(conn: Connection, source: str, table: str, actor: str, now: datetime, check: bool) -> None:
    wanted = set(declared(conn, source, table))
    row = conn.execute(
        sa.select(table_classes).where(table_classes.c.source == source, table_classes.c.table_name == table)
    ).first()
    if row is None:
        _write_row(conn, source, table, tuple(sorted(wanted)), actor, now, insert=True)
        audit.record(conn, actor, "classes.recorded", "table", _key(source, table), classes=sorted(wanted))
        if check:
            _require_pii_columns(conn, source, table, wanted)
        return
    current = set(row.data_classes or ())
    added = wanted - current
    if added:
        current |= added
        _write_row(conn, source, table, tuple(sorted(current)), actor, now)
        audit.record(conn, actor, "classes.added", "table", _key(source, table), added=sorted(added),
                     classes=sorted(current))
        revoke_bypasses(conn, source, table, actor, f"classes of {_key(source, table)} changed: added {sorted(added)}", now)
    if check:
        _require_pii_columns(conn, source, table, current)
    pending = conn.execute(
        sa.select(class_changes).where(class_changes.c.source == source, class_changes.c.table_name == table,
                                       class_changes.c.status == "pending")
    ).first()
    removed = current - wanted
    if pending is not None:
        same = set(pending.current or ()) == current and set(pending.proposed or ()) == wanted
        if removed and same:
            return
        conn.execute(class_changes.update().where(class_changes.c.id == pending.id).values(
            status="withdrawn", decided_by=actor, decided_at=now, reason="the manifests changed again"))
        audit.record(conn, actor, "classes.removal_withdrawn", "table", _key(source, table), change_id=pending.id)
    if removed:
        change_id = conn.execute(class_changes.insert().values(
            source=source, table_name=table, current=sorted(current), proposed=sorted(wanted), proposed_by=actor,
            proposed_at=now, status="pending",
        ).returning(class_changes.c.id)).scalar_one()
        audit.record(conn, actor, "classes.removal_proposed", "table", _key(source, table), change_id=change_id,
                     removed=sorted(removed), current=sorted(current), proposed=sorted(wanted))


def _require_pii_columns(conn: Connection, source: str, table: str, classes: set[str]) -> None:
    if "pii" not in classes:
        return
    bare = _suites_of(conn, source, table)
    missing = sorted(r.name for r in bare if not r.pii_columns)
    if missing:
        raise PolicyViolation(
            f"suite(s) {', '.join(missing)} name {_key(source, table)}, which holds pii data, but list no pii_columns. "
            "Hint: add `pii_columns: [...]` (the columns holding personal data) so failing-row samples are masked."
        )


def _write_row(conn: Connection, source: str, table: str, classes: tuple[str, ...], actor: str, now: datetime,
               *, insert: bool = False) -> None:
    values = {"data_classes": list(classes), "updated_at": now, "updated_by": actor,
              "signature": bypass_signing.sign_terms("table_classes", _terms(source, table, classes))}
    if insert:
        conn.execute(table_classes.insert().values(source=source, table_name=table, **values))
    else:
        conn.execute(table_classes.update().where(
            table_classes.c.source == source, table_classes.c.table_name == table).values(**values))


def revoke_bypasses(conn: Connection, source: str, table: str, actor: str, reason: str, now: datetime) -> list[int]:
    """Close every active or pending bypass of the table's suites for good (status `revoked`)."""
    names = [r.name for r in _suites_of(conn, source, table, enabled_only=False)]
    ids = conn.execute(
        sa.select(bypass_requests.c.id, bypass_requests.c.status).where(
            bypass_requests.c.suite.in_(list(names)), bypass_requests.c.status.in_(("pending", "active")))
    ).all()
    for request_id, previous in ids:
        conn.execute(bypass_requests.update().where(bypass_requests.c.id == request_id).values(
            status="revoked", closed_at=now, closed_by=actor, close_note=reason))
        audit.record(conn, actor, "bypass.revoked", "bypass", request_id, previous=previous, note=reason)
    return [int(i) for i, _ in ids]


# --- deciding a removal ----------------------------------------------------------------------


def approve(user: Actor, change_id: int, *, engine: Engine | None = None) -> ClassChange:
    """A data_eng_lead other than the author approves: the classes shrink and the table's bypasses end."""
    now = clock.trusted_utcnow()
    with _audited_refusal(user, change_id, engine), db.write(engine) as conn:
        change = _decidable(conn, user, change_id, "approve")
        _write_row(conn, change.source, change.table_name, change.proposed, user.name, now)
        conn.execute(class_changes.update().where(class_changes.c.id == change_id).values(
            status="approved", decided_by=user.name, decided_at=now))
        audit.record(conn, user.name, "classes.removal_approved", "table", change.table, change_id=change_id,
                     removed=list(change.removed), classes=list(change.proposed), proposed_by=change.proposed_by)
        revoke_bypasses(conn, change.source, change.table_name, user.name,
                        f"classes of {change.table} changed: removed {list(change.removed)}", now)
        return _change(conn.execute(sa.select(class_changes).where(class_changes.c.id == change_id)).one())


def reject(user: Actor, change_id: int, reason: str, *, engine: Engine | None = None) -> ClassChange:
    """Refuse a removal: the classes stay in force."""
    now = clock.trusted_utcnow()
    with _audited_refusal(user, change_id, engine):
        if not (reason or "").strip():
            raise PolicyViolation(f"rejecting class change #{change_id} needs a reason. Hint: say why, for the table's owner.")
        with db.write(engine) as conn:
            change = _decidable(conn, user, change_id, "reject")
            conn.execute(class_changes.update().where(class_changes.c.id == change_id).values(
                status="rejected", decided_by=user.name, decided_at=now, reason=reason.strip()))
            audit.record(conn, user.name, "classes.removal_rejected", "table", change.table, change_id=change_id,
                         removed=list(change.removed), reason=reason.strip())
            return _change(conn.execute(sa.select(class_changes).where(class_changes.c.id == change_id)).one())


def _decidable(conn: Connection, user: Actor, change_id: int, verb: str) -> ClassChange:
    row = conn.execute(sa.select(class_changes).where(class_changes.c.id == change_id).with_for_update()).first()
    if row is None:
        raise NotFound(f"class change #{change_id} does not exist. Hint: list them with `python manage.py classes list`.")
    change = _change(row)
    if change.status != "pending":
        raise InvalidTransition(
            f"class change #{change_id} is {change.status}, not pending. Hint: only a pending change can be decided."
        )
    if not (user.name or "").strip() or not user.roles:
        raise PolicyViolation(
            f"{user.name or 'an anonymous user'} has no role and cannot {verb} class change #{change_id}. "
            "Hint: add the user to config/roles.yaml."
        )
    if user.name.strip().lower() == change.proposed_by.strip().lower():
        raise PolicyViolation(
            f"{user.name} loaded class change #{change_id} and cannot {verb} it (four eyes). Hint: {HINT_REVIEW}."
        )
    if not user.has("data_eng_lead"):
        raise PolicyViolation(
            f"{user.name} is not a data_eng_lead and cannot {verb} removing {list(change.removed)} from "
            f"{change.table}. Hint: {HINT_REVIEW}."
        )
    return change


@contextmanager
def _audited_refusal(user: Actor, change_id: int, engine: Engine | None) -> Iterator[None]:
    """Write `classes.refused` (in its own transaction, after the refused one rolled back) and re-raise."""
    try:
        yield
    except (PolicyViolation, InvalidTransition) as exc:
        with db.write(engine) as conn:
            audit.record(conn, (user.name or "").strip() or "anonymous", "classes.refused", "class_change", change_id,
                         change_id=change_id, reason=str(exc))
        raise
