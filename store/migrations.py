"""Schema migrations with Alembic: revisions in store/alembic/versions/, applied in one transaction.

`python manage.py migrate` (or `migrate(engine)`) upgrades the store to the newest revision.
Importing a module never changes a schema. A schema change is a new revision file whose
`down_revision` is the current head (docs/architecture.md, "How to add a schema change").

Alembic keeps the current revision in `alembic_version`; `schema_migrations` is our log of
when each revision was applied. Stores migrated before Alembic (their `schema_migrations`
holds 0001_initial, 0002_audit_append_only, 0003_console_ack_index) are stamped at the first
revision, which is exactly that schema, or at the last later one they also recorded under the
revision's name (0050_reports_schedule), and then upgraded in place.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.operations import Operations
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext, MigrationInfo
from alembic.script import ScriptDirectory
from alembic.util import CommandError as AlembicError
from sqlalchemy.engine import Connection, Engine

import clock
from store import db, pg_roles, schema
from store.errors import MigrationFailed, SchemaOutOfDate, StoreUnreachable, UnknownSchema

SCRIPTS = Path(__file__).resolve().parent / "alembic"
BASELINE = "0001_baseline"
# What the pre-Alembic code recorded in schema_migrations, and the part of BASELINE that built each.
LEGACY = {"0001_initial": "tables", "0002_audit_append_only": "audit_append_only", "0003_console_ack_index": "ack_index"}
# Any constant: the transaction-scoped PostgreSQL advisory lock that serialises concurrent migrates.
_PG_LOCK = 4_512_316_020


def config(connection: Connection | None = None, *extra_locations: Path) -> Config:
    """The Alembic configuration, built in code; `connection` is the one env.py migrates."""
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("file_template", "%%(rev)s")
    locations = [SCRIPTS / "versions", *extra_locations]
    cfg.set_main_option("version_locations", os.pathsep.join(str(p) for p in locations))
    cfg.attributes["connection"] = connection
    cfg.attributes["applied"] = []
    return cfg


@cache
def _scripts(*extra_locations: Path) -> ScriptDirectory:
    return ScriptDirectory.from_config(config(None, *extra_locations))


def revisions(*extra_locations: Path) -> list[str]:
    """Every revision, oldest first."""
    return [rev.revision for rev in reversed(list(_scripts(*extra_locations).walk_revisions()))]


def head(*extra_locations: Path) -> str:
    heads = _scripts(*extra_locations).get_heads()
    if len(heads) != 1:
        raise UnknownSchema(f"the migrations have {len(heads)} heads ({', '.join(heads)}). Hint: give the newest revision the other head as its down_revision.")
    return heads[0]


def current_in(conn: Connection) -> str | None:
    """The revision the store is at (a pre-Alembic store counts as BASELINE); None for an empty store."""
    found = MigrationContext.configure(conn).get_current_heads()
    if found:
        if len(found) > 1:
            raise UnknownSchema(f"the store is at several revisions ({', '.join(found)}). Hint: stamp it at one with `alembic -c store/alembic.ini stamp`.")
        return found[0]
    legacy = _legacy_names(conn)
    return None if legacy is None else _legacy_revision(legacy, revisions())


def _legacy_revision(legacy: list[str], known: list[str]) -> str | None:
    """The revision a pre-Alembic store is at: BASELINE for 0001-0003, then each later pre-Alembic
    migration that became the revision of the same name, in history order (None: not at one)."""
    names = set(legacy)
    if not set(LEGACY) <= names:
        return None
    at = BASELINE
    for rev in known[1:]:
        if rev not in names:
            break
        at = rev
    covered = set(LEGACY) | set(known[: known.index(at) + 1])
    return at if names <= covered else None


def applied_in(conn: Connection, *extra_locations: Path) -> list[str]:
    """The revisions applied to the store, oldest first."""
    at = current_in(conn)
    if at is None:
        return []
    known = revisions(*extra_locations)
    if at not in known:
        raise _unknown_revision(conn, at)
    return known[: known.index(at) + 1]


def applied(engine: Engine) -> list[str]:
    with db.read(engine) as conn:
        return applied_in(conn)


def pending(engine: Engine, *extra_locations: Path) -> list[str]:
    """The revisions `migrate` would apply, oldest first."""
    with db.read(engine) as conn:
        done = applied_in(conn, *extra_locations)
    known = revisions(*extra_locations)
    return known[len(done):]


def require_current(engine: Engine | None = None) -> None:
    """Raise SchemaOutOfDate unless every revision has been applied."""
    engine = engine or db.get_engine()
    missing = pending(engine)
    if missing:
        raise SchemaOutOfDate(
            f"the store at {_where(engine)} lacks migrations "
            f"{', '.join(missing)}. Hint: run `python manage.py migrate`."
        )


def migrate(
    engine: Engine | None = None, *extra_locations: Path, to: str = "head", owner_role: str | None = None,
    app_role: str | None = None,
) -> list[str]:
    """Upgrade the store (to the newest revision by default); returns the revisions applied.

    All pending revisions run in one transaction: a failure leaves the store as it was.
    `extra_locations` add version folders (tests use it to attack the machinery).
    With `owner_role` and `app_role` (PostgreSQL), the tables end up owned by the owner and the
    application role is granted only DML, and on audit_log only SELECT and INSERT (store.pg_roles).
    """
    engine = engine or db.get_engine()
    with _migration_connection(engine) as conn:
        if owner_role is not None or app_role is not None:
            pg_roles.check_roles(conn, owner_role or "", app_role or "")
        _adopt_pre_alembic(conn, extra_locations)
        done = applied_in(conn, *extra_locations)  # refuses a revision this version does not know
        cfg = config(conn, *extra_locations)
        try:
            command.upgrade(cfg, to)
        except (sa.exc.SQLAlchemyError, AlembicError) as exc:
            later = revisions(*extra_locations)[len(done) + len(cfg.attributes["applied"]):]
            failed = f"revision {later[0]}" if later else f"migrating to {to!r}"
            raise MigrationFailed(
                f"{failed} failed on the store at {_where(engine)}: {_first_line(exc)}; "
                "every revision of this migrate was rolled back, the store is as it was. "
                "Hint: fix the cause (the database's message above) and run `python manage.py migrate` again."
            ) from exc
        if owner_role and app_role:
            pg_roles.apply(conn, owner_role, app_role)
        return list(cfg.attributes["applied"])


def downgrade(engine: Engine, to: str, *extra_locations: Path) -> list[str]:
    """Undo revisions down to `to` ("base" empties the store); returns the revisions undone."""
    with _migration_connection(engine) as conn:
        applied_in(conn, *extra_locations)
        cfg = config(conn, *extra_locations)
        command.downgrade(cfg, to)
        return list(cfg.attributes["applied"])


# --- the pieces env.py calls -----------------------------------------------------------------


def run_env(context: EnvironmentContext) -> None:
    """env.py's body: migrate the connection given in code, else (the alembic CLI) DQ_STORE_URL."""
    cfg = context.config
    conn = cfg.attributes.get("connection")
    if context.is_offline_mode():
        context.configure(url=db.store_url(), literal_binds=True, **_options(cfg))
        with context.begin_transaction():
            context.run_migrations()
        return
    if conn is not None:
        context.configure(connection=conn, **_options(cfg))
        with context.begin_transaction():  # ours, opened by migrate(): Alembic joins it
            context.run_migrations()
        return
    with _migration_connection(db.get_engine()) as own:
        context.configure(connection=own, **_options(cfg))
        with context.begin_transaction():
            context.run_migrations()


def _options(cfg: Config) -> dict[str, Any]:
    applied: list[str] = cfg.attributes.setdefault("applied", [])

    def record(*, ctx: MigrationContext, step: MigrationInfo, heads: set[str], run_args: dict[str, Any]) -> None:
        if step.is_stamp or ctx.as_sql or ctx.connection is None:
            return
        log, rev = schema.schema_migrations, str(step.up_revision_id)
        if step.is_upgrade:
            ctx.connection.execute(log.insert().values(name=rev, applied_at=clock.utcnow()))
        elif sa.inspect(ctx.connection).has_table(log.name):  # gone when the first revision is undone
            ctx.connection.execute(log.delete().where(log.c.name == rev))
        applied.append(rev)

    return {
        "target_metadata": schema.metadata,
        "render_as_batch": True,  # SQLite alters tables by copying them; batch mode does that
        "compare_type": True,
        "on_version_apply": [record],
    }


# --- one locked connection, foreign keys handled ---------------------------------------------


@contextmanager
def _migration_connection(engine: Engine) -> Iterator[Connection]:
    """A connection in one write transaction that no other migrate can enter at the same time.

    SQLite: BEGIN IMMEDIATE, and foreign keys off while tables are rebuilt (batch mode drops
    and recreates a table; with foreign keys on, dropping `runs` would cascade-delete every
    result), checked with PRAGMA foreign_key_check before commit.
    PostgreSQL: a transaction-scoped advisory lock.
    """
    try:
        conn = engine.connect()
    except sa.exc.OperationalError as exc:
        raise StoreUnreachable(
            f"the store at {_where(engine)} cannot be reached: {str(exc.orig).splitlines()[0]}. "
            "Hint: check DQ_STORE_URL and that the database server is running."
        ) from exc
    sqlite = db.is_sqlite(engine)
    with conn:
        if sqlite:
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        try:
            with conn.begin():
                if engine.dialect.name == "postgresql":
                    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_LOCK)))
                yield conn
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise UnknownSchema(
                            f"the migration would leave rows whose foreign keys point nowhere ({broken[:5]}). "
                            "Hint: the revision must move the referencing rows too; nothing was changed."
                        )
        finally:
            if sqlite:
                conn.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


# --- stores migrated before Alembic ----------------------------------------------------------


def _legacy_names(conn: Connection) -> list[str] | None:
    """The names in schema_migrations if the store has no alembic_version (None: not pre-Alembic)."""
    inspector = sa.inspect(conn)
    if inspector.has_table("alembic_version") or not inspector.has_table("schema_migrations"):
        return None
    return list(conn.execute(sa.select(schema.schema_migrations.c.name)).scalars())


def _adopt_pre_alembic(conn: Connection, extra_locations: tuple[Path, ...]) -> None:
    """Stamp a pre-Alembic store at the revision its schema_migrations says (finishing a partial
    BASELINE first), or refuse it."""
    tables = set(sa.inspect(conn).get_table_names())
    legacy = _legacy_names(conn)
    if legacy is None:
        if "alembic_version" not in tables and tables & {t.name for t in schema.metadata.sorted_tables}:
            raise UnknownSchema(
                f"the store at {_where(conn)} has tables ({', '.join(sorted(tables)[:5])}, ...) but no record of its migrations. "
                "Hint: point DQ_STORE_URL at an empty database, or restore a backup (`python manage.py restore DIR`) into one."
            )
        return
    known = revisions(*extra_locations)
    unknown = sorted(set(legacy) - set(LEGACY) - set(known))
    if unknown:
        raise UnknownSchema(
            f"the store at {_where(conn)} records migrations {', '.join(unknown)} that this version does not know. "
            "Hint: run the version of this tool that migrated it, or restore its backup into a new store."
        )
    if not legacy:
        if tables - {"schema_migrations"}:
            raise UnknownSchema(
                f"the store at {_where(conn)} has tables but an empty schema_migrations. "
                "Hint: point DQ_STORE_URL at an empty database, or restore a backup into one."
            )
        schema.schema_migrations.drop(conn)  # left by a first migrate that failed: start afresh
        return
    if "0001_initial" not in legacy:
        raise UnknownSchema(f"the store at {_where(conn)} records {', '.join(legacy)} without 0001_initial. Hint: restore a backup into a new store.")
    baseline = _scripts(*extra_locations).get_revision(BASELINE).module
    context = MigrationContext.configure(conn, opts={"render_as_batch": True})
    with Operations.context(context):
        for name, part in LEGACY.items():
            if name not in legacy:
                getattr(baseline, part)()
                conn.execute(schema.schema_migrations.insert().values(name=name, applied_at=clock.utcnow()))
    at = _legacy_revision([*legacy, *LEGACY], known)
    if at is None:
        later = [rev for rev in known if rev in legacy]
        raise UnknownSchema(
            f"the store at {_where(conn)} records {', '.join(later)} but not every revision before them "
            f"({' -> '.join(known)}). Hint: restore its backup into a new store, or stamp it by hand "
            "(`alembic -c store/alembic.ini stamp REVISION`) once you know which schema it has."
        )
    context.stamp(_scripts(*extra_locations), at)
    if BASELINE not in legacy:
        conn.execute(schema.schema_migrations.insert().values(name=BASELINE, applied_at=clock.utcnow()))


def _unknown_revision(conn: Connection, at: str) -> UnknownSchema:
    return UnknownSchema(
        f"the store at {_where(conn)} is at revision {at}, which this version does not know (a newer version migrated it). "
        "Hint: run the newer version, or restore a backup taken before the upgrade into a new store."
    )


def _first_line(exc: BaseException) -> str:
    return (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [type(exc).__name__])[0]


def _where(bind: Engine | Connection) -> str:
    return bind.engine.url.render_as_string(hide_password=True)
