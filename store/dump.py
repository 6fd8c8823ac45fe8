"""Whole-store dumps and loads for backup and restore: a consistent snapshot read, an id-preserving load."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from store import db, migrations
from store.errors import StoreUnreachable
from store.export import json_columns, read_table
from store.schema import metadata

# Parents before children, so foreign keys hold while loading.
DATA_TABLES: tuple[sa.Table, ...] = tuple(t for t in metadata.sorted_tables if t.name != "schema_migrations")
# Filled by the migration itself (the audit chain's head): not a sign of a used store, and replaced
# by the backup's own row on load, so the restored chain ends where the backup's did.
MIGRATION_ROWS = ("audit_chain",)
_CHUNK = 2000


@contextmanager
def snapshot(engine: Engine | None = None) -> Iterator[Connection]:
    """A read-only transaction in which every query sees the same committed state.

    PostgreSQL's default (READ COMMITTED) takes a new snapshot per statement, so we ask for
    REPEATABLE READ; SQLite in WAL mode keeps the snapshot of the first read until the end.
    """
    engine = engine or db.get_engine()
    try:
        conn = engine.connect()
    except sa.exc.OperationalError as exc:
        raise StoreUnreachable(f"the store cannot be reached: {exc}. Hint: check DQ_STORE_URL.") from exc
    with conn:
        if engine.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with conn.begin():
            yield conn


def dump_tables(conn: Connection) -> dict[str, pl.DataFrame]:
    return {table.name: read_table(conn, table) for table in DATA_TABLES}


def applied_migrations(conn: Connection) -> list[str]:
    """The revisions the store is at, oldest first (what a restore must know)."""
    return migrations.applied_in(conn)


def non_empty_tables(conn: Connection) -> list[str]:
    """Data tables that exist and hold at least one row."""
    existing = set(sa.inspect(conn).get_table_names())
    return [
        t.name for t in DATA_TABLES
        if t.name in existing and t.name not in MIGRATION_ROWS
        and conn.execute(sa.select(sa.literal(1)).select_from(t).limit(1)).first()
    ]


def load_table(conn: Connection, table: sa.Table, frame: pl.DataFrame) -> int:
    """Insert every row of `frame` with its ids; JSON text columns are decoded back to documents."""
    encoded = set(json_columns(table)) & set(frame.columns)
    if table.name in MIGRATION_ROWS:
        conn.execute(table.delete())
    loaded = 0
    for chunk in frame.iter_slices(_CHUNK):
        rows = [_decoded(row, encoded) for row in chunk.to_dicts()]
        if rows:
            conn.execute(table.insert(), rows)
            loaded += len(rows)
    return loaded


def _decoded(row: dict[str, Any], encoded: set[str]) -> dict[str, Any]:
    for name in encoded:
        if row[name] is not None:
            row[name] = json.loads(row[name])
    return row


def reset_sequences(conn: Connection) -> None:
    """Point each PostgreSQL id sequence past the largest restored id (SQLite needs nothing)."""
    if conn.dialect.name != "postgresql":
        return
    for table in DATA_TABLES:
        if "id" not in table.c or not table.c.id.primary_key:
            continue
        largest = sa.select(sa.func.max(table.c.id)).scalar_subquery()
        sequence = sa.func.pg_get_serial_sequence(table.name, "id")
        conn.execute(sa.select(sa.func.setval(sequence, sa.func.coalesce(largest, 0) + 1, False)))
