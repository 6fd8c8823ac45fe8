"""The append-only, hash-chained audit log, and the integrity check of every record the gate relies on.

Every state change writes one row in the same transaction through `record()`, the one writer.
Each row carries `prev_hash` (the previous row's `row_hash`) and `row_hash`, an HMAC with the
signing key (store.bypass_signing) over a canonical JSON of its fields plus `prev_hash`. HMAC,
not a bare sha256: a store writer without the key can edit a row but cannot recompute the chain
after it. The head row `audit_chain` names the last row and its hash (signed too), so rows cut off
the end are noticed; `record()` locks it first (SELECT ... FOR UPDATE on PostgreSQL, the BEGIN
IMMEDIATE write transaction on SQLite), so concurrent writers append one after another.

`verify(conn)` walks the chain and names the first broken link; `records_intact(...)` is the
gate's single question: the chain, the signatures of the results it judges and of the bypasses
and approvals of the suite.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

import clock
from store import bypass_signing
from store.errors import StoreError
from store.schema import audit_chain, audit_log, bypass_approvals, bypass_requests, results

GENESIS = "0" * 64  # the prev_hash of the first row
HEAD_ID = 1
_BATCH = 2000
OPEN_BYPASS = ("pending", "active")
VERIFY_HINT = (
    "Hint: the store was edited outside the product; restore it from a backup taken before the broken row "
    "(`python manage.py restore DIR`) and find who can write to the store (docs/security.md)."
)


class AuditChainBroken(StoreError):
    """The audit chain's head row is missing, so no row can be appended."""


@dataclass(frozen=True)
class ChainReport:
    """`verify`'s answer: intact with its row count, or the first broken link."""

    ok: bool
    rows: int
    broken_id: int | None = None
    problem: str | None = None

    def __str__(self) -> str:
        if self.ok:
            return f"audit log intact: {self.rows} row(s), every link verified"
        where = f"row #{self.broken_id}" if self.broken_id is not None else "the chain head"
        return f"audit log broken at {where}: {self.problem}"


@dataclass(frozen=True)
class Integrity:
    """`records_intact`'s answer: what is broken (the gate refuses) and what only warrants a warning."""

    reasons: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.reasons


# --- writing -------------------------------------------------------------------------------


def record(
    conn: Connection, actor: str, action: str, entity: str, entity_id: object, **details: Any
) -> None:
    """Append one chained audit row inside the caller's transaction."""
    values = {
        "at": clock.utcnow(), "actor": actor, "action": action, "entity": entity,
        "entity_id": None if entity_id is None else str(entity_id),
        "details": json.loads(json.dumps(details)),  # what the store gives back is what was hashed
    }
    head = conn.execute(sa.select(audit_chain).where(audit_chain.c.id == HEAD_ID).with_for_update()).first()
    if head is None:
        raise AuditChainBroken(
            f"the audit chain's head row is missing, so {action} cannot be recorded. "
            f"Run `python manage.py audit verify`. {VERIFY_HINT}"
        )
    digest = row_hash(values, head.last_hash)
    new_id = conn.execute(
        audit_log.insert().values(**values, prev_hash=head.last_hash, row_hash=digest).returning(audit_log.c.id)
    ).scalar_one()
    conn.execute(audit_chain.update().where(audit_chain.c.id == HEAD_ID).values(**head_values(int(new_id), digest)))


def row_hash(row: Mapping[Any, Any], prev_hash: str) -> str:
    """The HMAC of one audit row's fields and the hash before it."""
    canonical = {
        "at": _iso(row["at"]), "actor": row["actor"], "action": row["action"], "entity": row["entity"],
        "entity_id": row["entity_id"], "details": row["details"], "prev_hash": prev_hash,
    }
    return bypass_signing.mac(json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode())


def head_values(last_id: int, last_hash: str) -> dict[str, object]:
    """The chain head's columns for a chain ending at row `last_id`."""
    terms = {"last_id": last_id, "last_hash": last_hash}
    return {"id": HEAD_ID, **terms, "signature": bypass_signing.sign_terms("audit_head", terms)}


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


# --- verifying the chain -------------------------------------------------------------------


def verify(conn: Connection) -> ChainReport:
    """Walk the whole chain, oldest row first; the first broken link, or OK with the row count."""
    problem = bypass_signing.key_problem()
    if problem:
        return ChainReport(False, 0, None, problem)
    expected, previous, count = GENESIS, None, 0
    for row in _rows(conn):
        if not row.row_hash:
            return ChainReport(False, count, row.id, "it has no hash: it was written around the product's audit writer")
        if row.prev_hash != expected:
            before = f"the hash of row #{previous}" if previous is not None else "the start of the chain"
            return ChainReport(
                False, count, row.id,
                f"its prev_hash does not match {before}: a row before it was deleted, inserted or moved",
            )
        if row_hash(row._mapping, expected) != row.row_hash:
            return ChainReport(
                False, count, row.id,
                "its contents do not match its hash: the row was edited (or replaced with INSERT OR REPLACE)",
            )
        expected, previous, count = row.row_hash, row.id, count + 1
    head = conn.execute(sa.select(audit_chain).where(audit_chain.c.id == HEAD_ID)).first()
    if head is None:
        return ChainReport(False, count, None, "the head row (audit_chain) is missing")
    if not bypass_signing.verify_terms(head.signature, "audit_head", {"last_id": head.last_id, "last_hash": head.last_hash}):
        return ChainReport(False, count, None, "the head row (audit_chain) fails its signature: it was edited")
    if head.last_id != (previous or 0) or head.last_hash != expected:
        ends = f"ends at row #{previous}" if previous is not None else "is empty"
        return ChainReport(
            False, count, None,
            f"it names row #{head.last_id} as the last, but the log {ends}: rows were cut off the end",
        )
    return ChainReport(True, count)


def _rows(conn: Connection) -> Iterable[Any]:
    after = None
    while True:
        query = sa.select(audit_log).order_by(audit_log.c.id).limit(_BATCH)
        if after is not None:
            query = query.where(audit_log.c.id > after)
        batch = conn.execute(query).all()
        yield from batch
        if len(batch) < _BATCH:
            return
        after = batch[-1].id


# --- signed records ------------------------------------------------------------------------


def result_terms(row: Mapping[Any, Any]) -> dict[str, object]:
    """What a result's signature covers: the verdict and the figures the gate and the reports read."""
    names = ("run_id", "rule_name", "rule_id", "suite", "check_type", "severity", "status", "observed_value",
             "failing_rows", "rows_tested", "message")
    return {**{n: row.get(n) for n in names}, "finished_at": _iso(row["finished_at"])}


def sign_result(row: Mapping[Any, Any]) -> str:
    return bypass_signing.sign_terms("result", result_terms(row))


def approval_terms(row: Mapping[Any, Any]) -> dict[str, object]:
    """What an approval's signature covers: whose decision, on which request, in which role, when."""
    return {
        "request_id": row["request_id"], "approver": str(row["approver"]).lower(), "role": row["role"],
        "decision": row["decision"], "reason": row.get("reason"), "decided_at": _iso(row["decided_at"]),
    }


def sign_approval(row: Mapping[Any, Any]) -> str:
    return bypass_signing.sign_terms("approval", approval_terms(row))


def approval_problems(rows: Iterable[Any]) -> list[str]:
    """One line per approval row that fails its signature (forged, edited or copied from another bypass)."""
    return [
        f"approval #{r.id} of bypass #{r.request_id} by {r.approver} ({r.decision}) fails its signature "
        "(forged, edited, or copied from another bypass)"
        for r in rows
        if not bypass_signing.verify_terms(r.signature, "approval", approval_terms(r._mapping))
    ]


def records_intact(
    conn: Connection, *, run_id: int | None = None, result_ids: Iterable[int] = (), suite: str | None = None,
    bypass_ids: Iterable[int] = (), chain: bool = True,
) -> Integrity:
    """THE check the gate makes before it decides: are the records it relies on intact?

    The audit chain (unless `chain=False`), the signature of every result of `run_id` and of
    `result_ids`, and of every pending or active bypass of `suite` (plus `bypass_ids`) with its
    approvals. Reasons name the row and the link; warnings say the dev key file is in use.
    """
    warnings = []
    if bypass_signing.dev_key_in_use():
        warnings.append(
            "records are signed with the development key file in DQ_DATA_DIR (dev mode only): whoever can read "
            f"that folder can re-sign edited rows. Set {bypass_signing.KEY_SETTING} for production"
        )
    problem = bypass_signing.key_problem()
    if problem:
        return Integrity((problem,), tuple(warnings))
    reasons: list[str] = []
    if chain:
        report = verify(conn)
        if not report.ok:
            reasons.append(str(report))
    reasons += _result_problems(conn, run_id, list(result_ids))
    reasons += _bypass_problems(conn, suite, list(bypass_ids))
    return Integrity(tuple(reasons), tuple(warnings))


def _result_problems(conn: Connection, run_id: int | None, result_ids: list[int]) -> list[str]:
    conditions: list[sa.ColumnElement[bool]] = []
    if run_id is not None:
        conditions.append(results.c.run_id == run_id)
    if result_ids:
        conditions.append(results.c.id.in_(result_ids))
    if not conditions:
        return []
    rows = conn.execute(sa.select(results).where(sa.or_(*conditions)).order_by(results.c.id)).all()
    return [
        f"result #{r.id} ({r.rule_name} {r.status}, run #{r.run_id}) fails its signature (edited in the store)"
        for r in rows
        if not bypass_signing.verify_terms(r.signature, "result", result_terms(r._mapping))
    ]


def _bypass_problems(conn: Connection, suite: str | None, bypass_ids: list[int]) -> list[str]:
    conditions: list[sa.ColumnElement[bool]] = [bypass_requests.c.id.in_(bypass_ids)] if bypass_ids else []
    if suite is not None:
        conditions.append(sa.and_(bypass_requests.c.suite == suite, bypass_requests.c.status.in_(OPEN_BYPASS)))
    if not conditions:
        return []
    problems = []
    for request in conn.execute(sa.select(bypass_requests).where(sa.or_(*conditions)).order_by(bypass_requests.c.id)):
        approvals = conn.execute(
            sa.select(bypass_approvals).where(bypass_approvals.c.request_id == request.id).order_by(bypass_approvals.c.id)
        ).all()
        problems += approval_problems(approvals)
        if request.status == "active" and not _request_signed(request, approvals):
            problems.append(f"bypass #{request.id} ({request.suite}) fails its signature: its approved terms were edited")
    return problems


def _request_signed(request: Any, approvals: Sequence[Any]) -> bool:
    if request.activated_at is None or request.expires_at is None:
        return False
    approvers = [a.approver for a in approvals if a.decision == "approve"]
    return bypass_signing.verify(
        request.signature, request.id, request.suite, request.table_name, request.activated_at,
        request.expires_at, approvers,
    )
