import pytest
import sqlalchemy as sa

from store import db, dump
from tests.cli.helpers import manage
from tests.cli.inprocess import run
from tests.conftest import PG_ADMIN_URL, _fresh_database
from tests.ops.store_data import load_rules, populate, table_rows, write_manifests


@pytest.fixture
def restore_pg_url():
    yield from _fresh_database(PG_ADMIN_URL, "PostgreSQL")


def test_backup_and_restore_commands(store_url, restore_pg_url, tmp_path, monkeypatch) -> None:
    rules = write_manifests(tmp_path / "rules")
    monkeypatch.setenv("DQ_RULES_DIR", str(rules))
    load_rules(rules)
    populate()
    done = manage("backup", str(tmp_path / "bk"))
    assert done.returncode == 0, done.stderr
    assert f"in {len(dump.DATA_TABLES)} tables and 2 suites" in done.stdout  # populate() fills every table
    done = manage("restore", str(tmp_path / "bk"), "--actor", "oncall", env={"DQ_STORE_URL": restore_pg_url})
    assert done.returncode == 0, done.stderr
    assert "run_dq_checks --all --dry-run" in done.stdout
    before, after = table_rows(db.get_engine(store_url)), table_rows(db.get_engine(restore_pg_url))
    assert after["audit_log"][:-1] == before["audit_log"] and after["audit_log"][-1][2] == "oncall"
    chained = ("audit_log", "audit_chain")  # the restore appends its own audit row, so the chain's head moves on
    assert {k: v for k, v in after.items() if k not in chained} == {k: v for k, v in before.items() if k not in chained}
    verified = manage("audit", "verify", env={"DQ_STORE_URL": restore_pg_url})
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # Verify as the runbook does: dry-run every restored rule against the warehouse.
    _warehouse(restore_pg_url)
    env = {"DQ_STORE_URL": restore_pg_url, "DQ_SOURCE_WAREHOUSE_URL": restore_pg_url}
    done = manage("run_dq_checks", "--all", "--dry-run", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "silver.orders: PASSED (dry run, not recorded" in done.stdout
    # Restoring again into the now filled store is refused, and the store is left alone.
    done = manage("restore", str(tmp_path / "bk"), env={"DQ_STORE_URL": restore_pg_url})
    assert done.returncode == 2 and "is not empty" in done.stderr and "Hint:" in done.stderr
    assert table_rows(db.get_engine(restore_pg_url)) == after


def _warehouse(url: str) -> None:
    """The tables the test manifests check, clean, in schemas of the same PostgreSQL database."""
    with db.get_engine(url).begin() as conn:
        for statement in (
            "CREATE SCHEMA silver", "CREATE SCHEMA gold",
            "CREATE TABLE silver.orders (id integer, amount numeric(10,2), status text, email text)",
            "INSERT INTO silver.orders VALUES (1, 10.50, 'new', 'a@example.org'), (2, 20, 'paid', 'b@example.org')",
            "CREATE TABLE gold.customers (email text, updated_at timestamptz, country text)",
            "INSERT INTO gold.customers VALUES ('a@example.org', now(), 'DE'), ('b@example.org', now(), 'FR')",
        ):
            conn.execute(sa.text(statement))


def test_bad_arguments(sqlite_store, tmp_path, capsys) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    done = manage("backup", str(tmp_path / "full"))
    assert done.returncode == 3 and "already exists and is not an empty folder" in done.stderr
    code, _, err = run(capsys, "backup", str(tmp_path / "no" / "such" / "bk"))
    assert code == 3 and "does not exist. Hint: create it first" in err
    code, _, err = run(capsys, "restore", str(tmp_path / "full"))
    assert code == 2 and "not a complete backup: metadata.json is missing" in err
    code, _, err = run(capsys, "restore")
    assert code == 3 and "required: dir" in err
