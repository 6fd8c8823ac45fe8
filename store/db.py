"""Store engines: one per URL, SQLite tuned for a scheduler and a console writing at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.url import make_url

import settings
from store.errors import StoreUnreachable

_ENGINES: dict[str, Engine] = {}
_LOCK = threading.Lock()


def store_url() -> str:
    return str(settings.get("DQ_STORE_URL"))


def get_engine(url: str | None = None) -> Engine:
    """The cached engine for `url` (default DQ_STORE_URL)."""
    url = url or store_url()
    with _LOCK:
        engine = _ENGINES.get(url)
        if engine is None:
            engine = _create(url)
            _ENGINES[url] = engine
        return engine


def dispose_all() -> None:
    with _LOCK:
        for engine in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()


def is_sqlite(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "sqlite"


def _create(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        _tune_sqlite(engine)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        # We issue BEGIN ourselves so that writes can take the lock up front (IMMEDIATE)
        # instead of failing with "database is locked" when upgrading a read lock.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        # INSERT OR REPLACE deletes the row it replaces; with this on, that delete fires the
        # audit log's DELETE trigger too (the hash chain catches it either way).
        cursor.execute("PRAGMA recursive_triggers=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


@contextmanager
def write(engine: Engine | None = None) -> Iterator[Connection]:
    """One short write transaction (BEGIN IMMEDIATE on SQLite); commits or rolls back whole."""
    engine = engine or get_engine()
    try:
        conn = engine.connect()
    except sa.exc.OperationalError as exc:
        raise StoreUnreachable(_unreachable(engine, exc)) from exc
    with conn:
        conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            yield conn


@contextmanager
def read(engine: Engine | None = None) -> Iterator[Connection]:
    """A read-only connection in a transaction that is rolled back at the end."""
    engine = engine or get_engine()
    try:
        conn = engine.connect()
    except sa.exc.OperationalError as exc:
        raise StoreUnreachable(_unreachable(engine, exc)) from exc
    with conn, conn.begin():
        yield conn


def _unreachable(engine: Engine, exc: Exception) -> str:
    safe = engine.url.render_as_string(hide_password=True)
    detail = str(exc.__cause__ or exc).splitlines()[0]
    return (
        f"the store at {safe} cannot be reached: {detail}. "
        "Hint: check DQ_STORE_URL and that the database server is running."
    )


def insert_ignore(conn: Connection, table: sa.Table, values: dict[str, object]) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING (SQLite, PostgreSQL); True when this call inserted the row."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table).values(**values).on_conflict_do_nothing()
    # RETURNING, not rowcount: drivers disagree on rowcount for a skipped insert.
    return bool(conn.execute(stmt.returning(*table.primary_key.columns)).all())
