from datetime import timedelta

import polars as pl
import pytest
import sqlalchemy as sa

from ops import housekeeping, retention
from ops.errors import ArchiveFailed, InvalidRequest
from store import db, schema
from store import retention as store_retention
from tests.ops.store_data import NOW, populate


@pytest.fixture
def history(store_url, monkeypatch):
    monkeypatch.setenv("DQ_NOW", NOW.isoformat())
    return populate()


def _ids(table: sa.Table) -> list[int]:
    with db.read() as conn:
        return list(conn.execute(sa.select(table.c.id).order_by(table.c.id)).scalars())


def test_cleanup_archives_then_deletes_only_what_is_older_than_the_cutoff(history, tmp_path) -> None:
    report = retention.cleanup(180, archive=tmp_path / "archive")
    assert report.rows == {"violations": 2, "violation_samples": 4, "results": 4, "runs": 2, "metric_points": 1}
    assert _ids(schema.runs) == sorted([*history["new_runs"], *history["running"]])
    assert sorted(_ids(schema.violations)) == sorted(history["kept_violations"])
    archived = pl.read_parquet(tmp_path / "archive" / "violations" / "*.parquet")
    assert sorted(archived["id"].to_list()) == sorted(history["old_violations"])
    assert pl.read_parquet(tmp_path / "archive" / "runs" / "*.parquet")["id"].to_list() == history["old_runs"]
    assert pl.read_parquet(tmp_path / "archive" / "results" / "*.parquet").height == 4
    assert pl.read_parquet(tmp_path / "archive" / "violation_samples" / "*.parquet").height == 4
    assert _ids(schema.metric_points) == [history["metric_points"][1]]  # the 10-day-old point is kept
    assert report.maintenance and "VACUUM" in report.maintenance


def test_dry_run_counts_and_writes_nothing(history, tmp_path) -> None:
    report = retention.cleanup(180, archive=tmp_path / "archive", dry_run=True)
    assert report.rows == {"violations": 2, "violation_samples": 4, "results": 4, "runs": 2, "metric_points": 1}
    assert not (tmp_path / "archive").exists()
    assert len(_ids(schema.runs)) == 5


def test_small_batches_give_one_file_per_batch_and_an_audit_row_each(history, tmp_path) -> None:
    report = retention.cleanup(180, archive=tmp_path / "archive", batch_size=1, maintenance=False)
    assert report.batches == 2 + 4 + 2 + 1
    names = sorted(p.name for p in (tmp_path / "archive" / "runs").iterdir())
    first, second = history["old_runs"]
    assert names == [f"runs-{first:010d}-{first:010d}.parquet", f"runs-{second:010d}-{second:010d}.parquet"]
    with db.read() as conn:
        audited = conn.execute(sa.select(sa.func.count()).where(schema.audit_log.c.action == "retention.archived")).scalar()
    assert audited == 9


def test_an_interrupted_cleanup_can_run_again(history, tmp_path, monkeypatch) -> None:
    # Interrupt after the first batch was archived but before it was deleted.
    real_delete = retention.retention.delete_batch

    def crash(conn, batch, cutoff):
        raise KeyboardInterrupt

    monkeypatch.setattr(retention.retention, "delete_batch", crash)
    with pytest.raises(KeyboardInterrupt):
        retention.cleanup(180, archive=tmp_path / "archive", maintenance=False)
    assert len(_ids(schema.violations)) == 6  # archived, not deleted
    monkeypatch.setattr(retention.retention, "delete_batch", real_delete)
    report = retention.cleanup(180, archive=tmp_path / "archive", maintenance=False)
    assert report.rows["violations"] == 2
    files = list((tmp_path / "archive" / "violations").iterdir())
    assert len(files) == 1 and pl.read_parquet(files[0]).height == 2  # same name, rewritten, no duplicate
    assert retention.cleanup(180, archive=tmp_path / "archive", maintenance=False).rows["runs"] == 0


def test_nothing_is_deleted_when_the_archive_cannot_be_written(history, tmp_path) -> None:
    first, last = history["old_violations"]
    # A folder where the batch's file must go: the rename fails (permissions would not stop root).
    (tmp_path / "archive" / "violations" / f"violations-{first:010d}-{last:010d}.parquet").mkdir(parents=True)
    with pytest.raises(ArchiveFailed, match="nothing was deleted. Hint: free space or fix permissions"):
        retention.cleanup(180, archive=tmp_path / "archive", maintenance=False)
    assert len(_ids(schema.violations)) == 6
    assert len(_ids(schema.violation_samples)) == 12


def test_an_archive_folder_that_cannot_be_made_is_refused_up_front(history, tmp_path) -> None:
    (tmp_path / "archive").write_text("a file, not a folder")
    with pytest.raises(InvalidRequest, match="cannot use .*archive as the archive folder"):
        retention.cleanup(180, archive=tmp_path / "archive")


@pytest.mark.parametrize(("days", "batch", "message"), [(0, 10, "--older-than-days must be 1 or more"),
                                                      (-5, 10, "--older-than-days must be 1 or more"),
                                                      (180, 0, "--batch-size must be between")])
def test_bad_arguments_are_refused(sqlite_store, days, batch, message) -> None:
    with pytest.raises(InvalidRequest, match=message):
        retention.cleanup(days, batch_size=batch)


def test_the_monthly_job_runs_once_per_period_and_only_when_configured(sqlite_store, monkeypatch, tmp_path) -> None:
    assert "ops.retention" in housekeeping.JOB_MODULES
    assert retention.monthly_cleanup(NOW) is None  # DQ_RETENTION_DAYS unset: keep everything
    monkeypatch.setenv("DQ_RETENTION_DAYS", "30")
    monkeypatch.setenv("DQ_ARCHIVE_DIR", str(tmp_path / "arch"))
    monkeypatch.setenv("DQ_NOW", (NOW + timedelta(days=1)).isoformat())
    populate()
    report = retention.monthly_cleanup(NOW)
    assert report is not None and report.archive_dir == tmp_path / "arch" and report.rows["runs"] == 2
    assert retention.monthly_cleanup(NOW + timedelta(hours=1)) is None  # same period: already done
    next_period = retention.period_start(NOW) + timedelta(days=30)
    assert retention.monthly_cleanup(next_period) is not None


def test_a_failed_monthly_run_gives_its_period_back(sqlite_store, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("DQ_RETENTION_DAYS", "-3")  # refused by cleanup: the claim must not be lost
    with pytest.raises(InvalidRequest):
        retention.monthly_cleanup(NOW)
    monkeypatch.setenv("DQ_RETENTION_DAYS", "30")
    monkeypatch.setenv("DQ_ARCHIVE_DIR", str(tmp_path / "arch"))
    assert retention.monthly_cleanup(NOW) is not None


def test_the_job_is_registered_only_when_retention_is_configured(monkeypatch) -> None:
    import importlib

    # A private registry, so the other features' jobs are not disturbed.
    monkeypatch.setattr(housekeeping, "_JOBS", {})
    importlib.reload(retention)
    assert housekeeping._JOBS == {}
    monkeypatch.setenv("DQ_RETENTION_DAYS", "180")
    importlib.reload(retention)
    assert [(j.name, j.every_seconds) for j in housekeeping._JOBS.values()] == [("ops.retention.monthly_cleanup", 3600)]


def test_maintenance_on_a_busy_sqlite_store_is_skipped_with_the_reason(sqlite_store) -> None:
    writer = sa.create_engine(sqlite_store)
    impatient = sa.create_engine(sqlite_store, connect_args={"timeout": 0.2})
    try:
        with writer.connect() as conn:
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # another process holds the write lock
            outcome = store_retention.maintain(impatient)
            conn.exec_driver_sql("ROLLBACK")
        assert outcome.startswith("skipped (database is locked)")
        assert store_retention.maintain(impatient) == "PRAGMA optimize; VACUUM"
    finally:
        writer.dispose()
        impatient.dispose()
