"""Stores as installs hold them: the pre-Alembic snapshots loaded into real databases, and schemas described for comparison."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa

from store import db, schema

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def load_legacy(url: str) -> sa.Engine:
    """Load the snapshot of a store migrated by the pre-Alembic code (0001-0003) into the empty database at `url`."""
    parsed = sa.make_url(url)
    backend = parsed.get_backend_name()
    script = (FIXTURES / f"legacy_0003.{backend}.sql").read_text(encoding="utf-8")
    if backend == "sqlite":
        with sqlite3.connect(str(parsed.database)) as conn:
            conn.executescript(script)
    else:
        dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(script.encode())  # type: ignore[call-overload]
    return db.get_engine(url)


def described(engine: sa.Engine) -> dict[str, Any]:
    """Everything the schema is made of, comparable across two databases of one backend."""
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        out: dict[str, Any] = {}
        for name in sorted(set(inspector.get_table_names()) - {"alembic_version"}):
            out[name] = {
                "columns": [(c["name"], str(c["type"]), c["nullable"], str(c.get("default"))) for c in inspector.get_columns(name)],
                "pk": inspector.get_pk_constraint(name)["constrained_columns"],
                "fks": sorted((tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]), str(f.get("options")))
                              for f in inspector.get_foreign_keys(name)),
                "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in inspector.get_indexes(name)),
                "uniques": sorted((str(u["name"]), tuple(u["column_names"])) for u in inspector.get_unique_constraints(name)),
            }
        if engine.dialect.name == "sqlite":
            out["ddl"] = conn.exec_driver_sql(
                "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE '%alembic_version%' ORDER BY type, name"
            ).all()
        else:
            out["triggers"] = conn.exec_driver_sql(
                "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal ORDER BY tgname"
            ).all()
            out["functions"] = conn.exec_driver_sql(
                "SELECT proname, prosrc FROM pg_proc JOIN pg_namespace n ON n.oid = pronamespace "
                "WHERE nspname = 'public' ORDER BY proname"
            ).all()
            out["constraints"] = conn.exec_driver_sql(
                "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text <> 'alembic_version' ORDER BY 1, 2"
            ).all()
    return out


def existing_columns(engine: sa.Engine) -> dict[str, set[str]]:
    """The columns of each store table that exists (an old store lacks newer tables and columns)."""
    inspector = sa.inspect(engine)
    present = set(inspector.get_table_names())
    return {t.name: {c["name"] for c in inspector.get_columns(t.name)}
            for t in schema.metadata.sorted_tables if t.name in present and t.name != "schema_migrations"}


def existing_rows(engine: sa.Engine, columns: dict[str, set[str]] | None = None) -> dict[str, list[tuple]]:
    """Every row of those tables and columns (default: the ones that exist now), ordered by primary key."""
    columns = columns or existing_columns(engine)
    rows = {}
    with db.read(engine) as conn:
        for table in schema.metadata.sorted_tables:
            if table.name in columns:
                query = sa.select(*[c for c in table.c if c.name in columns[table.name]]).order_by(*table.primary_key.columns)
                rows[table.name] = [tuple("NaN" if v != v else v for v in row) for row in conn.execute(query)]
    return rows
