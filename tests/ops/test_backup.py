import json
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa

import clock
from ops import backup
from ops.errors import InvalidRequest, RestoreRefused
from store import audit, db, migrations, schema
from tests.conftest import PG_ADMIN_URL, _fresh_database
from tests.ops.store_data import load_rules, populate, table_rows, write_manifests


@pytest.fixture
def restore_pg_url():
    """A second fresh PostgreSQL database: the one restored into (the store may be on PostgreSQL too)."""
    yield from _fresh_database(PG_ADMIN_URL, "PostgreSQL")


@pytest.fixture
def populated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_url: str) -> str:
    rules = write_manifests(tmp_path / "rules")
    monkeypatch.setenv("DQ_RULES_DIR", str(rules))
    load_rules(rules)
    populate()
    return store_url


def test_backup_then_restore_into_a_fresh_postgresql_gives_every_row_back(populated, restore_pg_url, tmp_path) -> None:
    source, target = db.get_engine(populated), db.get_engine(restore_pg_url)
    taken = backup.backup(tmp_path / "bk")
    restored = backup.restore(tmp_path / "bk", actor="tester", engine=target)
    before, after = table_rows(source), table_rows(target)
    chained = ("audit_log", "audit_chain")  # the restore appends its own audit row, so the chain's head moves on
    assert {name: rows for name, rows in before.items() if name not in chained} == {
        name: rows for name, rows in after.items() if name not in chained
    }
    # The audit log is restored whole, then tells who restored it, and its chain still verifies.
    assert after["audit_log"][:-1] == before["audit_log"]
    assert after["audit_log"][-1][2:4] == ("tester", "store.restored")
    with db.read(target) as conn:
        assert audit.verify(conn).ok
    assert {t.name: t.rows for t in taken.tables} == {t.name: t.rows for t in restored.tables}
    assert all(rows for name, rows in before.items()), [name for name, rows in before.items() if not rows]


def test_restored_postgresql_sequences_continue_after_the_largest_id(sqlite_store, pg_url, tmp_path) -> None:
    populate()
    backup.backup(tmp_path / "bk")
    target = db.get_engine(pg_url)
    backup.restore(tmp_path / "bk", actor="tester", engine=target)
    with db.write(target) as conn:
        largest = conn.execute(sa.select(sa.func.max(schema.runs.c.id))).scalar_one()
        new_id = conn.execute(schema.runs.insert().values(
            suite="s", source="w", trigger="manual", status="PASSED", started_at=clock.utcnow())).inserted_primary_key[0]
    assert new_id == largest + 1


def test_restore_into_sqlite_file(populated, tmp_path) -> None:
    backup.backup(tmp_path / "bk")
    target = db.get_engine(f"sqlite:///{tmp_path / 'restored.db'}")
    backup.restore(tmp_path / "bk", actor="tester", engine=target)
    # SQLite has no NaN (it stores NULL), so a PostgreSQL NaN comes back as NULL there.
    expected = [tuple(None if v == "NaN" else v for v in row) for row in table_rows(db.get_engine(populated))["results"]]
    assert table_rows(target)["results"] == expected
    assert migrations.pending(target) == []


def test_backup_folder_holds_manifest_tables_and_metadata(populated, tmp_path) -> None:
    result = backup.backup(tmp_path / "bk")
    meta = json.loads((tmp_path / "bk" / "metadata.json").read_text())
    assert meta["migrations"] == migrations.revisions()
    assert meta["tables"]["runs"]["rows"] == pl.read_parquet(tmp_path / "bk" / "tables" / "runs.parquet").height == 5
    assert "suite: silver.orders" in (tmp_path / "bk" / "manifest.yaml").read_text()
    assert result.suites == 2
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".bk")] == []  # no staging left behind


def test_restore_refuses_a_store_that_has_data(populated, tmp_path) -> None:
    backup.backup(tmp_path / "bk")
    with pytest.raises(RestoreRefused, match=r"not empty .*runs.*Hint: point DQ_STORE_URL at a new database"):
        backup.restore(tmp_path / "bk", actor="tester")


def test_backup_refuses_a_folder_that_is_not_empty(sqlite_store, tmp_path) -> None:
    (tmp_path / "bk").mkdir()
    (tmp_path / "bk" / "old.txt").write_text("x")
    with pytest.raises(InvalidRequest, match="not an empty folder"):
        backup.backup(tmp_path / "bk")


def test_restore_refuses_a_damaged_table_file(sqlite_store, tmp_path) -> None:
    populate()
    backup.backup(tmp_path / "bk")
    (tmp_path / "bk" / "tables" / "runs.parquet").write_bytes(b"garbage")
    target = db.get_engine(f"sqlite:///{tmp_path / 'restored.db'}")
    with pytest.raises(RestoreRefused, match=r"runs.parquet is missing or damaged"):
        backup.restore(tmp_path / "bk", actor="tester", engine=target)
    with db.read(target) as conn:
        assert not sa.inspect(conn).has_table("runs")  # nothing was created before the check


def test_restore_refuses_a_backup_from_a_newer_schema(sqlite_store, tmp_path) -> None:
    backup.backup(tmp_path / "bk")
    meta_path = tmp_path / "bk" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["migrations"].append("0099_future_thing")
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(RestoreRefused, match="newer schema .*0099_future_thing"):
        backup.restore(tmp_path / "bk", actor="tester", engine=db.get_engine(f"sqlite:///{tmp_path / 'r.db'}"))


def test_restore_refuses_a_folder_that_is_not_a_backup(sqlite_store, tmp_path) -> None:
    with pytest.raises(RestoreRefused, match="metadata.json is missing"):
        backup.restore(tmp_path, actor="tester")


def test_a_backup_taken_before_alembic_restores(sqlite_store, tmp_path) -> None:
    backup.backup(tmp_path / "bk")
    meta_path = tmp_path / "bk" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["migrations"] = ["0001_initial", "0002_audit_append_only", "0003_console_ack_index"]  # what those backups say
    meta_path.write_text(json.dumps(meta))
    target = db.get_engine(f"sqlite:///{tmp_path / 'r.db'}")
    backup.restore(tmp_path / "bk", actor="tester", engine=target)
    assert migrations.pending(target) == []
