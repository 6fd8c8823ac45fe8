"""Stores migrated by the pre-Alembic code (snapshots in fixtures/) are stamped and upgraded in place."""

from pathlib import Path

import pytest
import sqlalchemy as sa

import clock
from store import db, migrations, schema
from store.errors import UnknownSchema
from tests.store.schema_snapshots import described, existing_columns, existing_rows, load_legacy
from tests.store.test_migrations import drift

LEGACY_LOG = ["0001_initial", "0002_audit_append_only", "0003_console_ack_index"]


@pytest.fixture(params=["sqlite", "postgresql"])
def legacy_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The snapshot of a pre-Alembic store, loaded into a fresh database."""
    url = f"sqlite:///{tmp_path / 'legacy.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    load_legacy(url)
    return url


@pytest.fixture
def fresh_url(legacy_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A store of the same backend built by the migrations from nothing."""
    if legacy_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'fresh.db'}"
    else:
        from tests.conftest import PG_ADMIN_URL, _fresh_database

        databases = _fresh_database(PG_ADMIN_URL, "PostgreSQL")
        url = next(databases)
        request.addfinalizer(lambda: next(databases, None))
    migrations.migrate(db.get_engine(url))
    return url


def test_the_snapshot_is_a_full_pre_alembic_store(legacy_url: str) -> None:
    engine = db.get_engine(legacy_url)
    rows = existing_rows(engine)
    assert len(rows) == 15 and all(rows.values()), "every table of that version holds rows"
    assert not sa.inspect(engine).has_table("alembic_version")


def test_the_first_revision_is_exactly_the_pre_alembic_schema(legacy_url: str, fresh_url: str) -> None:
    fresh = db.get_engine(fresh_url)
    if fresh.dialect.name == "sqlite":  # a downgrade rebuilds tables (other DDL text): build it afresh
        fresh = db.get_engine(fresh_url.replace("fresh.db", "baseline.db"))
        migrations.migrate(fresh, to=migrations.BASELINE)
    else:
        migrations.downgrade(fresh, migrations.BASELINE)  # the snapshot predates the later revisions
    assert migrations.applied(fresh) == [migrations.BASELINE]
    assert described(fresh) == described(db.get_engine(legacy_url))


def test_a_pre_alembic_store_counts_as_current_before_it_is_stamped(legacy_url: str) -> None:
    engine = db.get_engine(legacy_url)
    assert migrations.applied(engine) == [migrations.BASELINE]
    assert migrations.pending(engine) == migrations.revisions()[1:]


def test_upgrade_keeps_every_row_and_stamps_the_store(legacy_url: str, fresh_url: str) -> None:
    engine = db.get_engine(legacy_url)
    cols = existing_columns(engine)
    before = existing_rows(engine, cols)
    applied = migrations.migrate(engine)
    assert applied == migrations.revisions()[1:]
    after = existing_rows(engine, cols)
    assert {name: after[name] for name in before} == before
    with db.read(engine) as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all() == [migrations.head()]
        log = conn.execute(sa.select(schema.schema_migrations.c.name).order_by(schema.schema_migrations.c.applied_at)).scalars().all()
    assert log[:3] == LEGACY_LOG and log[3:] == migrations.revisions()
    migrations.require_current(engine)
    assert drift(engine) == []
    assert described(engine) == described(db.get_engine(fresh_url))
    assert migrations.migrate(engine) == []


def test_an_upgraded_store_takes_new_writes_and_keeps_its_audit_guard(legacy_url: str) -> None:
    engine = db.get_engine(legacy_url)
    migrations.migrate(engine)
    largest = max(row[0] for row in existing_rows(engine)["runs"])
    with db.write(engine) as conn:
        run_id = conn.execute(schema.runs.insert().values(
            suite="silver.orders", source="warehouse", trigger="manual", status="RUNNING", started_at=clock.utcnow(),
        )).inserted_primary_key[0]
        conn.execute(schema.audit_log.insert().values(at=clock.utcnow(), actor="a", action="x", entity="run", details={}))
    assert run_id == largest + 1  # PostgreSQL's sequences came along
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), db.write(engine) as conn:
        conn.execute(schema.audit_log.delete())


def test_the_snapshot_values_survive_as_written(legacy_url: str) -> None:
    engine = db.get_engine(legacy_url)
    migrations.migrate(engine)
    with db.read(engine) as conn:
        runs = conn.execute(sa.select(schema.runs.c.rows_read)).scalars().all()
        observed = conn.execute(sa.select(schema.results.c.observed_value)).scalars().all()
        samples = conn.execute(sa.select(schema.violation_samples.c.rows)).scalars().all()
        rules = conn.execute(sa.select(schema.rules.c.description).where(schema.rules.c.name == "orders_amount_between")).scalar()
    assert 10_000_000_000 in runs
    if engine.dialect.name == "postgresql":
        assert any(v != v for v in observed)  # NaN stays NaN (SQLite itself keeps NaN as NULL)
    assert samples[0] == [{"id": 0, "amount": -1.5, "note": "ünïcode"}]
    assert rules == "Beträge in € müssen positiv sein"


def test_a_store_with_only_the_first_pre_alembic_step_gets_the_rest(legacy_url: str, fresh_url: str) -> None:
    engine = db.get_engine(legacy_url)
    with engine.begin() as conn:  # as the code before 0002 and 0003 left it
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("DROP TRIGGER audit_log_no_update")
            conn.exec_driver_sql("DROP TRIGGER audit_log_no_delete")
        else:
            conn.exec_driver_sql("DROP TRIGGER audit_log_append_only ON audit_log")
            conn.exec_driver_sql("DROP TRIGGER audit_log_no_truncate ON audit_log")
            conn.exec_driver_sql("DROP FUNCTION audit_log_append_only()")
        conn.exec_driver_sql("DROP INDEX ix_violations_acknowledged_at")
        conn.execute(schema.schema_migrations.delete().where(schema.schema_migrations.c.name != "0001_initial"))
    assert migrations.pending(engine) == migrations.revisions()
    cols = existing_columns(engine)
    before = existing_rows(engine, cols)
    migrations.migrate(engine)
    after = existing_rows(engine, cols)
    assert {name: after[name] for name in before} == before
    assert described(engine) == described(db.get_engine(fresh_url))


def test_a_pre_alembic_store_with_unknown_migrations_is_refused(legacy_url: str) -> None:
    engine = db.get_engine(legacy_url)
    with engine.begin() as conn:
        conn.execute(schema.schema_migrations.insert().values(name="0042_someone_elses", applied_at=clock.utcnow()))
    with pytest.raises(UnknownSchema, match="records migrations 0042_someone_elses that this version does not know.*Hint"):
        migrations.migrate(engine)
    assert not sa.inspect(engine).has_table("alembic_version")


def test_a_first_migrate_that_failed_half_way_starts_afresh(tmp_path: Path) -> None:
    engine = db.get_engine(f"sqlite:///{tmp_path / 'half.db'}")
    with engine.begin() as conn:  # the pre-Alembic code created schema_migrations, then 0001 failed
        schema.schema_migrations.create(conn)
    assert migrations.migrate(engine) == migrations.revisions()
    assert drift(engine) == []


def test_a_pre_alembic_store_that_ran_a_later_migration_is_stamped_there(legacy_url: str, fresh_url: str) -> None:
    engine = db.get_engine(legacy_url)
    with engine.begin() as conn:  # what main's pre-Alembic 0050_reports_schedule did
        schema.report_runs.create(conn)
        schema.sla_states.create(conn)
        conn.execute(schema.schema_migrations.insert().values(name="0050_reports_schedule", applied_at=clock.utcnow()))
    assert migrations.applied(engine) == ["0001_baseline", "0050_reports_schedule"]
    cols = existing_columns(engine)
    before = existing_rows(engine, cols)
    done = migrations.migrate(engine)  # would fail with "table report_runs already exists" if stamped at 0001
    assert "0050_reports_schedule" not in done
    assert existing_rows(engine, cols) == before
    assert described(engine) == described(db.get_engine(fresh_url))
