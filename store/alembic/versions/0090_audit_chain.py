"""The hash-chained audit log and signed results and approvals (issue 12, deliverable 4).

Revision ID: 0090_audit_chain
Revises: 0080_metric_points

Adds audit_log.prev_hash/row_hash, the audit_chain head row, results.signature and
bypass_approvals.signature. Rows written before this revision are chained and signed here, with
the signing key of this migrate (DQ_BYPASS_SIGNING_KEY, or the dev key file in dev mode): the
migration vouches for the store as it is at upgrade time. Without a key outside dev mode the
migrate fails, naming the setting, and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from alembic import op

from store import audit
from store.schema import UTCDateTime

revision = "0090_audit_chain"
down_revision = "0085_rule_change_requests"
branch_labels = None
depends_on = None

_log = sa.table(
    "audit_log", sa.column("id", sa.Integer), sa.column("at", UTCDateTime), sa.column("actor", sa.String),
    sa.column("action", sa.String), sa.column("entity", sa.String), sa.column("entity_id", sa.String),
    sa.column("details", sa.JSON), sa.column("prev_hash", sa.String), sa.column("row_hash", sa.String),
)
_head = sa.table("audit_chain", sa.column("id", sa.Integer), sa.column("last_id", sa.Integer),
                 sa.column("last_hash", sa.String), sa.column("signature", sa.String))
_results = sa.table("results", *(sa.column(n) for n in (
    "id", "run_id", "rule_name", "rule_id", "suite", "check_type", "severity", "status", "observed_value",
    "failing_rows", "rows_tested", "message", "signature")), sa.column("finished_at", UTCDateTime))
_approvals = sa.table("bypass_approvals", *(sa.column(n) for n in (
    "id", "request_id", "approver", "role", "decision", "reason", "signature")), sa.column("decided_at", UTCDateTime))
_SQLITE_VERBS = ("UPDATE", "DELETE")


def upgrade() -> None:
    op.add_column("audit_log", sa.Column("prev_hash", sa.String(64)))
    op.add_column("audit_log", sa.Column("row_hash", sa.String(64)))
    op.add_column("results", sa.Column("signature", sa.String(64)))
    op.add_column("bypass_approvals", sa.Column("signature", sa.String(64)))
    op.create_table(
        "audit_chain",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("last_id", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
        sa.Column("signature", sa.String(64), nullable=False),
    )
    conn = op.get_bind()
    with _triggers_off(conn):
        last_id, last_hash = _chain_existing(conn)
    conn.execute(_head.insert().values(**audit.head_values(last_id, last_hash)))
    _sign(conn, _results, audit.sign_result)
    _sign(conn, _approvals, audit.sign_approval)


def downgrade() -> None:
    op.drop_table("audit_chain")
    with op.batch_alter_table("bypass_approvals") as batch:
        batch.drop_column("signature")
    with op.batch_alter_table("results") as batch:
        batch.drop_column("signature")
    with op.batch_alter_table("audit_log") as batch:  # on SQLite this rebuilds the table, without its triggers
        batch.drop_column("row_hash")
        batch.drop_column("prev_hash")
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_triggers(op.get_bind(), create=True)


def _chain_existing(conn: sa.Connection) -> tuple[int, str]:
    last_id, last_hash = 0, audit.GENESIS
    for row in conn.execute(sa.select(_log).order_by(_log.c.id)).all():
        digest = audit.row_hash(row._mapping, last_hash)
        conn.execute(_log.update().where(_log.c.id == row.id).values(prev_hash=last_hash, row_hash=digest))
        last_id, last_hash = row.id, digest
    return last_id, last_hash


def _sign(conn: sa.Connection, table: sa.TableClause, sign: Callable[[Mapping[Any, Any]], str]) -> None:
    for row in conn.execute(sa.select(table)).all():
        conn.execute(table.update().where(table.c.id == row.id).values(signature=sign(row._mapping)))


@contextmanager
def _triggers_off(conn: sa.Connection) -> Iterator[None]:
    """The append-only triggers lifted for the one UPDATE that writes the hashes, then put back."""
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:
        _sqlite_triggers(conn, create=False)
    else:
        conn.exec_driver_sql("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
    yield
    if sqlite:
        _sqlite_triggers(conn, create=True)
    else:
        conn.exec_driver_sql("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")


def _sqlite_triggers(conn: sa.Connection, *, create: bool) -> None:
    for verb in _SQLITE_VERBS:
        name = f"audit_log_no_{verb.lower()}"
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
        if create:
            conn.exec_driver_sql(
                f"CREATE TRIGGER {name} BEFORE {verb} ON audit_log "
                "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
            )
