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
    CHECKLIST_FIELDS,
    MANUAL_FIX,
    Actor,
    NewRequest,
    _policy_or_refuse,
    _refusal,
    _require_known,
    check_incident_url,
    suite_terms,
)
from store.errors import PolicyViolation
from store.schema import bypass_requests


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
    missing = [label for name, label in CHECKLIST_FIELDS if not str(getattr(new, name) or "").strip()]
    if missing:
        raise PolicyViolation(
            f"manual fix record for {new.suite} lacks {', '.join(missing)}. "
            "Hint: the failover procedure's checklist applies to Option C too; pass every item."
        )
    check_incident_url(new.incident_url)
    now = clock.trusted_utcnow()
    with db.write(engine) as conn:
        terms = suite_terms(conn, new.suite)
        policy = _policy_or_refuse(matrix, terms)
        inserted = conn.execute(
            bypass_requests.insert().values(
                kind=MANUAL_FIX, suite=terms.name, table_name=terms.table_name, layer=terms.layer,
                data_classes=list(terms.data_classes), requested_by=actor, requested_at=now,
                incident_id=new.incident_id.strip(), incident_url=new.incident_url.strip(),
                failure_details=new.failure_details, run_id=new.run_id, violation_ids=list(new.violation_ids),
                business_impact=new.business_impact, duration_hours=0.0,
                impact_assessment=new.impact_assessment, rollback_plan=new.rollback_plan,
                fix_timeline=new.fix_timeline, alternative_plan=new.alternative_plan, status="pending",
                sql_sha256=sql.sha256, sql_bytes=sql.size, sql_text=sql.text,
            )
        ).inserted_primary_key
        assert inserted is not None
        request_id = int(inserted[0])
        audit.record(
            conn, actor, "bypass.manual_fix_recorded", "bypass", request_id, kind=MANUAL_FIX, suite=terms.name,
            table=terms.table_name, layer=terms.layer, incident_id=new.incident_id.strip(),
            sql_file=sql.name, sql_sha256=sql.sha256, sql_bytes=sql.size, needs=list(policy.approvers),
        )
    return request_id
