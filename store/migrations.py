"""Named, ordered, recorded schema migrations; each runs in its own transaction.

`python manage.py migrate` applies the pending ones. Importing a module never changes a
schema. A new schema change is a new function appended to MIGRATIONS, never an edit of an
applied one.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

import clock
from store import db, schema
from store.errors import SchemaOutOfDate

Migration = Callable[[Connection], None]


def _initial(conn: Connection) -> None:
    tables = [t for t in schema.metadata.sorted_tables if t.name != "schema_migrations"]
    schema.metadata.create_all(conn, tables=tables)


def _audit_append_only(conn: Connection) -> None:
    """Refuse UPDATE and DELETE on audit_log at the database, not only in our code."""
    if conn.dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            conn.exec_driver_sql(
                f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
                "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
            )
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            "CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$ LANGUAGE plpgsql"
        )
        conn.exec_driver_sql(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
        )
        conn.exec_driver_sql(
            "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
        )


def _console_ack_index(conn: Connection) -> None:
    """The Health page's alert response time reads violations by acknowledgement time."""
    # Plain DDL: an sa.Index bound to the Table would also be created by 0001 on fresh stores.
    conn.exec_driver_sql("CREATE INDEX ix_violations_acknowledged_at ON violations (acknowledged_at)")


def _alerts_batch_key(conn: Connection) -> None:
    """An alert batch's membership and Idempotency-Key, fixed when it is first claimed."""
    # 0001 creates today's tables, column included, on a fresh store; older stores get it added.
    if "batch_key" not in {c["name"] for c in sa.inspect(conn).get_columns("alerts")}:
        conn.exec_driver_sql("ALTER TABLE alerts ADD COLUMN batch_key VARCHAR(100)")
    conn.exec_driver_sql("CREATE INDEX ix_alerts_batch_key ON alerts (batch_key)")


def _rule_ids(conn: Connection) -> None:
    """Results and violations carry the rule's id, so a renamed or re-severitied rule stays one rule."""
    for table in ("results", "violations"):
        if "rule_id" not in {c["name"] for c in sa.inspect(conn).get_columns(table)}:
            conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN rule_id INTEGER")
        conn.exec_driver_sql(
            f"UPDATE {table} SET rule_id = (SELECT rules.id FROM rules WHERE rules.name = {table}.rule_name) "
            "WHERE rule_id IS NULL"
        )
    conn.exec_driver_sql("CREATE INDEX ix_results_rule_id_finished ON results (rule_id, finished_at)")
    conn.exec_driver_sql("CREATE INDEX ix_violations_rule_id ON violations (rule_id)")


def _table_classes(conn: Connection) -> None:
    """Data classes belong to the table (issue 12): the classes in force and proposed removals."""
    # checkfirst: 0001 creates every table of store/schema.py on a fresh store.
    schema.table_classes.create(conn, checkfirst=True)
    schema.class_changes.create(conn, checkfirst=True)


def _reports_schedule(conn: Connection) -> None:
    """Scheduled report ticks (one per tick across replicas) and SLA breach state."""
    # checkfirst: a fresh store's 0001 already created them from today's schema module.
    schema.report_runs.create(conn, checkfirst=True)
    schema.sla_states.create(conn, checkfirst=True)


def _console_scheduler_uptime(conn: Connection) -> None:
    """A history of scheduler up-time, so availability survives restarts and counts a stop as down time."""
    # checkfirst: 0001 builds every table of store/schema.py on a fresh store, this one included.
    schema.scheduler_uptime.create(conn, checkfirst=True)


def _scheduler_fencing(conn: Connection) -> None:
    """Run owners and deadlines, merged ticks, and the fencing tokens of registrations and leases."""
    added = {
        "runs": ("owner_host", "owner_pid", "deadline_at", "merged_ticks", "first_due_at"),
        "scheduler_heartbeats": ("epoch",),
        "suite_leases": ("generation",),
    }
    inspector = sa.inspect(conn)
    for table, columns in added.items():
        present = {c["name"] for c in inspector.get_columns(table)}
        for name in columns:
            if name in present:  # a fresh store got it from 0001, which creates today's tables
                continue
            column = sa.schema.CreateColumn(schema.metadata.tables[table].c[name]).compile(dialect=conn.dialect)
            conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column}")
    conn.exec_driver_sql("CREATE INDEX ix_runs_status_owner ON runs (status, owner_host)")


MIGRATIONS: list[tuple[str, Migration]] = [
    ("0001_initial", _initial),
    ("0002_audit_append_only", _audit_append_only),
    ("0003_console_ack_index", _console_ack_index),
    ("0010_table_classes", _table_classes),
    ("0030_scheduler_fencing", _scheduler_fencing),
    ("0040_alerts_batch_key", _alerts_batch_key),
    ("0041_rule_ids", _rule_ids),
    ("0050_reports_schedule", _reports_schedule),
    ("0060_console_scheduler_uptime", _console_scheduler_uptime),
]


def applied(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("schema_migrations"):
            return []
        return list(conn.execute(sa.select(schema.schema_migrations.c.name)).scalars())


def pending(engine: Engine) -> list[str]:
    done = set(applied(engine))
    return [name for name, _ in MIGRATIONS if name not in done]


def migrate(engine: Engine | None = None) -> list[str]:
    """Apply pending migrations in order; returns the names applied."""
    engine = engine or db.get_engine()
    with db.write(engine) as conn:
        schema.schema_migrations.create(conn, checkfirst=True)
    done: list[str] = []
    for name, step in MIGRATIONS:
        with db.write(engine) as conn:
            already = conn.execute(
                sa.select(schema.schema_migrations.c.name).where(schema.schema_migrations.c.name == name)
            ).first()
            if already:
                continue
            step(conn)
            conn.execute(schema.schema_migrations.insert().values(name=name, applied_at=clock.utcnow()))
        done.append(name)
    return done


def require_current(engine: Engine | None = None) -> None:
    """Raise SchemaOutOfDate unless every migration has been applied."""
    engine = engine or db.get_engine()
    missing = pending(engine)
    if missing:
        raise SchemaOutOfDate(
            f"the store at {engine.url.render_as_string(hide_password=True)} lacks migrations "
            f"{', '.join(missing)}. Hint: run `python manage.py migrate`."
        )
