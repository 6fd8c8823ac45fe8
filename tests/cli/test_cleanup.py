import polars as pl
import pytest
import sqlalchemy as sa

from store import db, schema
from tests.cli.helpers import manage
from tests.cli.inprocess import run
from tests.ops.store_data import NOW, populate


def test_cleanup_command(store_url, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DQ_NOW", NOW.isoformat())
    ids = populate()
    done = manage("cleanup", "--older-than-days", "180", "--archive", str(tmp_path / "arch"), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "would archive and delete 2 violations, 4 violation_samples, 4 results, 2 runs" in done.stdout
    assert not (tmp_path / "arch").exists()
    done = manage("cleanup", "--older-than-days", "180", "--archive", str(tmp_path / "arch"))
    assert done.returncode == 0, done.stderr
    assert "archived and deleted 2 violations" in done.stdout and "maintenance: " in done.stdout
    assert pl.read_parquet(tmp_path / "arch" / "runs" / "*.parquet")["id"].to_list() == ids["old_runs"]
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.runs)).scalar() == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--older-than-days", "soon"], "'soon' is not a whole number of days"),
        ([], "the following arguments are required: --older-than-days"),
        (["--older-than-days", "180", "--batch-size", "0"], "--batch-size: 0 must be 1 or more"),
    ],
)
def test_bad_arguments(sqlite_store, capsys, args, message) -> None:
    code, _, err = run(capsys, "cleanup", *args)
    assert code == 3 and message in err, err


def test_negative_days_as_a_subprocess(sqlite_store) -> None:
    done = manage("cleanup", "--older-than-days", "-5")
    assert done.returncode == 3 and "must be 1 or more" in done.stderr, done.stderr
