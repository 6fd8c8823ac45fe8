import sqlite3
from pathlib import Path

from store import migrations
from tests.cli.helpers import manage
from tests.store.schema_snapshots import load_legacy


def test_migrate_applies_then_says_up_to_date(tmp_path: Path) -> None:
    env = {"DQ_STORE_URL": f"sqlite:///{tmp_path / 's.db'}"}
    status = manage("migrate", "--status", env=env)
    assert status.returncode == 1 and "current: empty" in status.stdout and f"pending: {migrations.BASELINE}" in status.stdout
    first = manage("migrate", env=env)
    assert first.returncode == 0 and f"applied {', '.join(migrations.revisions())} to sqlite:///" in first.stdout
    again = manage("migrate", env=env)
    assert again.returncode == 0 and f"is up to date (at {migrations.head()})" in again.stdout
    status = manage("migrate", "--status", env=env)
    assert status.returncode == 0 and "pending: none" in status.stdout


def test_migrate_upgrades_a_pre_alembic_store_in_place(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'legacy.db'}"
    load_legacy(url)
    done = manage("migrate", env={"DQ_STORE_URL": url})
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(tmp_path / "legacy.db") as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(migrations.head(),)]
        assert conn.execute("SELECT count(*) FROM results").fetchone() == (10,)


def test_a_store_it_cannot_adopt_is_one_clear_line(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "odd.db") as conn:
        conn.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY)")
    done = manage("migrate", env={"DQ_STORE_URL": f"sqlite:///{tmp_path / 'odd.db'}"})
    assert done.returncode == 2
    assert "no record of its migrations" in done.stderr and "Hint:" in done.stderr and "Traceback" not in done.stderr
