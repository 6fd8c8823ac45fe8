"""Retention: archive old violations, results, runs and metric points to Parquet, then delete them in short batches.

Each batch is written to its own file (temp file, fsync, rename), read back and checked, and
only then deleted in one short write transaction with an audit row, so the console and the
scheduler are never locked out for long and nothing is deleted that is not on disk. File
names come from the batch's first and last id, so a cleanup interrupted at any point can be
run again: it rewrites the same file and deletes what is left. Afterwards the database's own
maintenance runs (SQLite: PRAGMA optimize and VACUUM; PostgreSQL: VACUUM ANALYZE).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
from sqlalchemy.engine import Engine

import clock
import settings
from ops import housekeeping
from ops.errors import ArchiveFailed, InvalidRequest
from ops.files import write_atomically
from store import audit, db, retention
from store.errors import StoreError

DEFAULT_BATCH = 2000
MONTH_SECONDS = 30 * 24 * 3600
POLL_SECONDS = 3600


@dataclass(frozen=True)
class CleanupReport:
    cutoff: datetime
    archive_dir: Path
    dry_run: bool
    rows: dict[str, int]  # archived and deleted (dry run: would be), per table
    files: tuple[Path, ...] = ()
    maintenance: str | None = None
    batches: int = 0


@dataclass
class _Progress:
    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(("violations", "violation_samples", "results", "runs", "metric_points"), 0))
    files: list[Path] = field(default_factory=list)
    batches: int = 0


def archive_dir(given: Path | None = None) -> Path:
    return given or settings.get("DQ_ARCHIVE_DIR") or settings.get("DQ_DATA_DIR") / "archive"


def cleanup(
    older_than_days: int,
    *,
    archive: Path | None = None,
    dry_run: bool = False,
    batch_size: int = DEFAULT_BATCH,
    maintenance: bool = True,
    actor: str = "retention",
    engine: Engine | None = None,
) -> CleanupReport:
    """Archive then delete everything older than `older_than_days`; a dry run only counts."""
    if older_than_days < 1:
        raise InvalidRequest(f"--older-than-days must be 1 or more, not {older_than_days}. Hint: the runbook keeps 180 days.")
    if batch_size < 1 or batch_size > 10000:
        raise InvalidRequest(f"--batch-size must be between 1 and 10000, not {batch_size}. Hint: the default is {DEFAULT_BATCH}.")
    engine = engine or db.get_engine()
    cutoff = clock.utcnow() - timedelta(days=older_than_days)
    folder = archive_dir(archive)
    if dry_run:
        with db.read(engine) as conn:
            counts = retention.count_eligible(conn, cutoff)
        return CleanupReport(cutoff, folder, True, counts)
    _prepare(folder)
    progress = _Progress()
    for kind in retention.KINDS:
        while _archive_next(engine, kind, cutoff, batch_size, folder, actor, progress):
            pass
    done = retention.maintain(engine) if maintenance else None
    return CleanupReport(cutoff, folder, False, progress.rows, tuple(progress.files), done, progress.batches)


def _prepare(folder: Path) -> None:
    try:
        for kind in (*retention.KINDS, "violation_samples"):
            (folder / kind).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidRequest(f"cannot use {folder} as the archive folder: {exc.strerror or exc}. Hint: pass --archive DIR with a writable folder.") from exc


def _archive_next(engine: Engine, kind: str, cutoff: datetime, limit: int, folder: Path, actor: str, progress: _Progress) -> bool:
    with db.read(engine) as conn:
        batch = retention.next_batch(conn, kind, cutoff, limit)
    if batch is None:
        return False
    first, last = batch.ids[0], batch.ids[-1]
    files = [_archive(folder / kind / f"{kind}-{first:010d}-{last:010d}.parquet", batch.rows)]
    if batch.samples is not None:
        name = f"violation_samples-of-violations-{first:010d}-{last:010d}.parquet"
        files.append(_archive(folder / "violation_samples" / name, batch.samples))
    try:
        with db.write(engine) as conn:
            deleted = retention.delete_batch(conn, batch, cutoff)
            audit.record(
                conn, actor, "retention.archived", kind, f"{first}-{last}",
                rows=deleted, samples=0 if batch.samples is None else batch.samples.height,
                cutoff=cutoff.isoformat(), files=[str(f) for f in files],
            )
    except StoreError as exc:
        raise ArchiveFailed(str(exc)) from exc
    progress.rows[kind] += deleted
    if batch.samples is not None:
        progress.rows["violation_samples"] += batch.samples.height
    progress.files.extend(files)
    progress.batches += 1
    return True


def _archive(path: Path, frame: pl.DataFrame) -> Path:
    """Write `frame` durably to `path` and prove it reads back whole before anything is deleted."""
    try:
        write_atomically(path, frame.write_parquet)
        back = pl.read_parquet(path)
    except OSError as exc:
        raise ArchiveFailed(f"cannot write the archive {path}: {exc.strerror or exc}; nothing was deleted. Hint: free space or fix permissions, then run the cleanup again.") from exc
    if back.height != frame.height or back["id"].to_list() != frame["id"].to_list():
        raise ArchiveFailed(f"the archive {path} did not read back as written; nothing was deleted. Hint: check the disk, then run the cleanup again.")
    return path


def monthly_cleanup(now: datetime) -> CleanupReport | None:
    """The scheduler's retention run: once per 30-day period, by one replica, when DQ_RETENTION_DAYS is set.

    The job is polled hourly rather than every 30 days of uptime, so a scheduler that restarts
    more often than monthly (or runs with --once from cron) still cleans up, exactly once per
    period: the period is claimed in the store, and a failed run gives its claim back.
    """
    days = settings.get("DQ_RETENTION_DAYS")
    if days is None:
        return None
    period = period_start(now)
    with db.write() as conn:
        if not retention.claim_period(conn, period, f"{socket.gethostname()}:{os.getpid()}"):
            return None
    try:
        return cleanup(days, actor="scheduler:retention")
    except Exception:
        with db.write() as conn:
            retention.release_period(conn, period)
        raise


def period_start(now: datetime) -> datetime:
    """The start of the 30-day period holding `now` (periods counted from the Unix epoch)."""
    seconds = int(now.timestamp()) // MONTH_SECONDS * MONTH_SECONDS
    return datetime.fromtimestamp(seconds, tz=UTC)


# Registered only when retention is configured, so an unconfigured install never deletes history.
if settings.get("DQ_RETENTION_DAYS") is not None:
    housekeeping.job(every_seconds=POLL_SECONDS, name="ops.retention.monthly_cleanup")(monthly_cleanup)
