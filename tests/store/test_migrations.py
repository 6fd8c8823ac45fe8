import re
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import clock
from store import db, migrations, queries, schema
from store.errors import MigrationFailed, SchemaOutOfDate, UnknownSchema
from tests.ops.store_data import load_rules, populate, table_rows, write_manifests
from tests.store.schema_snapshots import described

VERSIONS = migrations.SCRIPTS / "versions"


def drift(engine: sa.Engine, metadata: sa.MetaData = schema.metadata) -> list:
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)


def revision_file(folder: Path, rev: str, body: str) -> Path:
    """A revision in an extra version folder, on top of the real head: how the tests attack the machinery."""
    folder.mkdir(exist_ok=True)
    path = folder / f"{rev}.py"
    path.write_text(
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        f"revision = {rev!r}\ndown_revision = {migrations.head()!r}\nbranch_labels = None\ndepends_on = None\n\n"
        f"{body}\n\ndef downgrade():\n    pass\n",
        encoding="utf-8",
    )
    return folder


# --- the revisions themselves ----------------------------------------------------------------


def test_history_is_one_line_with_one_head() -> None:
    script = migrations._scripts()
    assert len(script.get_heads()) == 1
    assert len(script.get_bases()) == 1
    for rev in script.walk_revisions():
        assert not rev.is_merge_point and not rev.is_branch_point, rev.revision


def test_revision_ids_are_numbered_short_and_match_their_files() -> None:
    ids = migrations.revisions()
    assert ids[0] == migrations.BASELINE
    for rev in migrations._scripts().walk_revisions():
        # alembic_version.version_num is VARCHAR(32): a longer id fails on PostgreSQL only.
        assert re.fullmatch(r"\d{4}_[a-z0-9_]+", rev.revision) and len(rev.revision) <= 32, rev.revision
        assert Path(rev.path).name == f"{rev.revision}.py"
    # Numbers are the branches' ranges (CONTRACTS.md); the order is down_revision, i.e. merge order.


def test_no_drift_between_the_models_and_the_migrations(store_url: str) -> None:
    assert drift(db.get_engine(store_url)) == []


def test_a_model_change_without_a_revision_is_drift(sqlite_store: str) -> None:
    changed = sa.MetaData()
    for table in schema.metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["runs"].append_column(sa.Column("priority", sa.Integer))
    found = drift(db.get_engine(sqlite_store), changed)
    assert [(d[0], d[2], d[3].name) for d in found] == [("add_column", "runs", "priority")]


# --- migrate, pending, require_current -----------------------------------------------------


def test_migrate_is_recorded_and_idempotent(store_url: str) -> None:
    engine = db.get_engine(store_url)
    assert migrations.pending(engine) == []
    assert migrations.migrate(engine) == []
    assert migrations.applied(engine) == migrations.revisions()
    with db.read(engine) as conn:
        logged = conn.execute(sa.select(schema.schema_migrations.c.name)).scalars().all()
    assert logged == migrations.revisions()


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
    assert migrations.pending(engine) == migrations.revisions()
    with pytest.raises(SchemaOutOfDate, match="python manage.py migrate"):
        migrations.require_current(engine)


def test_a_new_revision_is_pending_then_applied(sqlite_store: str, tmp_path: Path) -> None:
    extra = revision_file(tmp_path / "v", "0099_runs_priority", "def upgrade():\n    op.add_column('runs', sa.Column('priority', sa.Integer))")
    engine = db.get_engine(sqlite_store)
    assert migrations.pending(engine, extra) == ["0099_runs_priority"]
    assert migrations.migrate(engine, extra) == ["0099_runs_priority"]
    assert "priority" in {c["name"] for c in sa.inspect(engine).get_columns("runs")}
    assert migrations.pending(engine, extra) == []


def test_a_store_newer_than_the_code_is_refused_with_a_hint(store_url: str, tmp_path: Path) -> None:
    extra = revision_file(tmp_path / "v", "0099_from_the_future", "def upgrade():\n    pass")
    engine = db.get_engine(store_url)
    migrations.migrate(engine, extra)
    with pytest.raises(UnknownSchema, match=r"revision 0099_from_the_future, which this version does not know.*Hint"):
        migrations.require_current(engine)
    with pytest.raises(UnknownSchema, match="Hint"):
        migrations.migrate(engine)
    status = queries.store_status(engine)  # what the console shows instead of a traceback
    assert not status.ok and "0099_from_the_future" in status.message


def test_tables_without_a_migration_record_are_refused(tmp_path: Path) -> None:
    engine = db.get_engine(f"sqlite:///{tmp_path / 'by_hand.db'}")
    with engine.begin() as conn:
        schema.runs.create(conn)
    with pytest.raises(UnknownSchema, match="no record of its migrations.*Hint: point DQ_STORE_URL at an empty database"):
        migrations.migrate(engine)


# --- the guarantees: atomic, serialised, no data lost to SQLite's table rebuilds -------------


def test_a_failing_revision_leaves_the_store_as_it_was(store_url: str, tmp_path: Path) -> None:
    extra = revision_file(
        tmp_path / "v", "0099_breaks_halfway",
        "def upgrade():\n    op.add_column('runs', sa.Column('priority', sa.Integer))\n    op.execute('SELECT * FROM no_such_table')",
    )
    engine = db.get_engine(store_url)
    before = described(engine)
    with pytest.raises(MigrationFailed, match=r"revision 0099_breaks_halfway failed .*no_such_table.*as it was.*Hint"):
        migrations.migrate(engine, extra)
    assert described(engine) == before
    assert migrations.pending(engine, extra) == ["0099_breaks_halfway"]


def test_rebuilding_a_parent_table_on_sqlite_keeps_its_children(sqlite_store: str, tmp_path: Path) -> None:
    # Batch mode drops and recreates `runs`; with foreign keys on, the drop would delete every result (ON DELETE CASCADE).
    load_rules(write_manifests(tmp_path / "rules"))
    populate()
    extra = revision_file(
        tmp_path / "v", "0099_rebuild_runs",
        "def upgrade():\n    with op.batch_alter_table('runs', recreate='always') as batch:\n"
        "        batch.add_column(sa.Column('priority', sa.Integer))",
    )
    engine = db.get_engine(sqlite_store)
    before = table_rows(engine)
    assert migrations.migrate(engine, extra) == ["0099_rebuild_runs"]
    after = table_rows(engine)
    assert after["results"] == before["results"] and len(after["results"]) == 10
    assert after["runs"] == before["runs"]
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1  # back on for the pool
        assert sa.inspect(conn).get_foreign_keys("results")[0]["referred_table"] == "runs"


def test_orphans_left_by_a_revision_roll_it_back(sqlite_store: str, tmp_path: Path) -> None:
    load_rules(write_manifests(tmp_path / "rules"))
    populate()
    extra = revision_file(tmp_path / "v", "0099_orphans", "def upgrade():\n    op.execute('DELETE FROM runs')")
    engine = db.get_engine(sqlite_store)
    with pytest.raises(UnknownSchema, match="foreign keys point nowhere.*nothing was changed"):
        migrations.migrate(engine, extra)
    assert len(table_rows(engine)["runs"]) == 5


def test_two_migrates_at_once_apply_each_revision_once(store_url: str, tmp_path: Path) -> None:
    extra = revision_file(tmp_path / "v", "0099_runs_priority", "def upgrade():\n    op.add_column('runs', sa.Column('priority', sa.Integer))")
    engine = db.get_engine(store_url)
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(migrations.migrate(engine, extra))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(results) == [[], [], ["0099_runs_priority"]]


# --- downgrades ------------------------------------------------------------------------------


def test_downgrade_to_base_and_up_again_round_trips(store_url: str) -> None:
    engine = db.get_engine(store_url)
    before = described(engine)
    assert migrations.downgrade(engine, "base") == list(reversed(migrations.revisions()))
    assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    assert migrations.migrate(engine) == migrations.revisions()
    assert described(engine) == before
    assert drift(engine) == []


def test_the_alembic_cli_finds_no_drift(store_url: str) -> None:
    import os
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(migrations.SCRIPTS.parent / "alembic.ini"), "check"],
        capture_output=True, text=True, env={**os.environ, "DQ_STORE_URL": store_url}, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "No new upgrade operations detected" in done.stdout


def test_an_unknown_target_is_a_store_error_not_a_traceback(sqlite_store: str) -> None:
    with pytest.raises(MigrationFailed, match=r"migrating to 'nope' failed .*Hint"):
        migrations.migrate(db.get_engine(sqlite_store), to="nope")
