"""Manual fixes (failover Option C): SQL someone ran by hand, recorded with a bypass's checklist and approvals.

A manual fix is a `bypass_requests` row of kind `manual_fix`: pending until the approval matrix's
roles approve it (four eyes, as a bypass), then `recorded`. It never becomes active, so the gate
never honours it (store.bypass.honoured_in reads only kind `bypass`). Tables that can never be
bypassed (pii, financial, compliance) can never have one either. The SQL is kept as text with
its sha256 and size; nothing here runs it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

import clock
from store import approval_matrix, audit, db
from store.bypass import (
    MANUAL_FIX,
    NewRequest,
    _policy_or_refuse,
    _refusal,
    _require_known,
    check_checklist,
    insert_request,
    suite_terms,
)
from store.table_classes import Actor


@dataclass(frozen=True)
class SqlFile:
    """The SQL run by hand, as read by ops.manual_fix.read_sql_file (bounded, UTF-8, not a link)."""

    name: str
    sha256: str
    size: int
    text: str


def record(user: Actor, new: NewRequest, sql: SqlFile, *, engine: Engine | None = None) -> int:
    """A pending manual-fix record after the same checks as a bypass request (table, checklist, ticket)."""
    with _refusal(user, "record_manual_fix", new.suite, None, engine):
        return _record(user, new, sql, engine)


def _record(user: Actor, new: NewRequest, sql: SqlFile, engine: Engine | None) -> int:
    matrix = approval_matrix.load()
    actor = _require_known(user, "record a manual fix")
    check_checklist(new, "manual fix record")
    now = clock.trusted_utcnow()
    with db.write(engine) as conn:
        terms = suite_terms(conn, new.suite)
        policy = _policy_or_refuse(matrix, terms)
        request_id = insert_request(conn, new, terms, actor, now, kind=MANUAL_FIX, duration_hours=0.0,
                                    sql_sha256=sql.sha256, sql_bytes=sql.size, sql_text=sql.text)
        audit.record(
            conn, actor, "bypass.manual_fix_recorded", "bypass", request_id, kind=MANUAL_FIX, suite=terms.name,
            table=terms.table_name, layer=terms.layer, incident_id=new.incident_id.strip(),
            sql_file=sql.name, sql_sha256=sql.sha256, sql_bytes=sql.size, needs=list(policy.approvers),
        )
    return request_id
