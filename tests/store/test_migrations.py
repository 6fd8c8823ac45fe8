import pytest
import sqlalchemy as sa

import clock
from store import db, migrations, schema
from store.errors import SchemaOutOfDate


def test_migrate_is_recorded_and_idempotent(store_url: str) -> None:
    engine = db.get_engine(store_url)
    assert migrations.pending(engine) == []
    assert migrations.migrate(engine) == []
    assert migrations.applied(engine) == [name for name, _ in migrations.MIGRATIONS]


def test_audit_log_is_append_only(store_url: str) -> None:
    engine = db.get_engine(store_url)
    with db.write(engine) as conn:
        conn.execute(schema.audit_log.insert().values(at=clock.utcnow(), actor="a", action="x", entity="rule", details={}))
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), db.write(engine) as conn:
        conn.execute(schema.audit_log.update().values(actor="b"))
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), db.write(engine) as conn:
        conn.execute(schema.audit_log.delete())
    with db.read(engine) as conn:
        assert conn.execute(sa.select(schema.audit_log.c.actor)).scalars().all() == ["a"]


def test_unmigrated_store_is_reported_with_the_fix(tmp_path) -> None:
    engine = db.get_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(SchemaOutOfDate, match="python manage.py migrate"):
        migrations.require_current(engine)


def test_0040_adds_the_alert_batch_key_to_a_store_made_before_it(tmp_path) -> None:
    engine = db.get_engine(f"sqlite:///{tmp_path / 'old.db'}")
    migrations.migrate(engine)
    with db.write(engine) as conn:  # the store as 0001-0003 left it before batch keys existed
        conn.exec_driver_sql("DROP INDEX ix_alerts_batch_key")
        conn.exec_driver_sql("ALTER TABLE alerts DROP COLUMN batch_key")
        conn.execute(schema.schema_migrations.delete().where(schema.schema_migrations.c.name == "0040_alerts_batch_key"))
    assert migrations.migrate(engine) == ["0040_alerts_batch_key"]
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        assert "batch_key" in {c["name"] for c in inspector.get_columns("alerts")}
        assert "ix_alerts_batch_key" in {i["name"] for i in inspector.get_indexes("alerts")}


def test_a_store_from_before_0030_gains_the_fencing_columns_keeping_its_rows(store_url: str) -> None:
    """0001 creates today's tables on a fresh store; an older store gets 0030's columns by ALTER."""
    engine = db.get_engine(store_url)
    added = {"runs": ["owner_host", "owner_pid", "deadline_at", "merged_ticks", "first_due_at"],
             "scheduler_heartbeats": ["epoch"], "suite_leases": ["generation"]}
    with db.write(engine) as conn:  # turn the store back into one migrated to 0003
        conn.exec_driver_sql("DROP INDEX ix_runs_status_owner")
        for table, columns in added.items():
            for column in columns:
                conn.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN {column}")
        conn.execute(schema.schema_migrations.delete().where(schema.schema_migrations.c.name == "0030_scheduler_fencing"))
        conn.exec_driver_sql("INSERT INTO suite_leases (suite, holder) VALUES ('silver.orders', 'a')")
    engine.dispose()
    engine = db.get_engine(store_url)
    assert migrations.migrate(engine) == ["0030_scheduler_fencing"]
    with db.read(engine) as conn:
        lease = conn.execute(sa.select(schema.suite_leases)).mappings().one()
        for table, columns in added.items():
            present = {c["name"] for c in sa.inspect(conn).get_columns(table)}
            assert set(columns) <= present
    assert (lease["suite"], lease["holder"], lease["generation"]) == ("silver.orders", "a", 0)
