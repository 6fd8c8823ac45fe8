"""Backup and restore of the whole store as portable files: one Parquet file per table, the manifest, metadata.

A backup folder holds `tables/<table>.parquet` (every column, ids included), `manifest.yaml`
(the live rules, loadable with `load_dq_rules`) and `metadata.json` (format, time, source
dialect, applied migrations, and per table its file, row count and SHA-256). metadata.json
is written last, and the folder is built under a temporary name and renamed into place, so a
folder with metadata.json is a complete backup.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy.engine import Engine

import clock
from ops import manifest_export
from ops.errors import BackupFailed, InvalidRequest, RestoreRefused
from ops.files import fsync_dir, fsync_file
from store import audit, db, dump, migrations

FORMAT = "dq-backup/1"
METADATA = "metadata.json"
MANIFEST = "manifest.yaml"


@dataclass(frozen=True)
class TableCopy:
    name: str
    rows: int


@dataclass(frozen=True)
class BackupResult:
    path: Path
    tables: tuple[TableCopy, ...]
    migrations: tuple[str, ...]
    suites: int


@dataclass(frozen=True)
class RestoreResult:
    path: Path
    tables: tuple[TableCopy, ...]
    created_at: str


def backup(target: Path, engine: Engine | None = None) -> BackupResult:
    """Dump every table and the manifest in one consistent read, into a new folder `target`."""
    _check_target(target)
    staging = target.parent / f".{target.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "tables").mkdir(parents=True)
    engine = engine or db.get_engine()
    try:
        with dump.snapshot(engine) as conn:
            applied = dump.applied_migrations(conn)
            manifest_text, suites = manifest_export.manifest_yaml(conn)
            frames = dump.dump_tables(conn)
        tables = {name: _write_table(staging, name, frame) for name, frame in frames.items()}
        (staging / MANIFEST).write_text(manifest_text, encoding="utf-8")
        fsync_file(staging / MANIFEST)
        meta = {
            "format": FORMAT,
            "created_at": clock.utcnow().isoformat(),
            "dialect": engine.dialect.name,
            "store": engine.url.render_as_string(hide_password=True),
            "migrations": applied,
            "tables": tables,
        }
        _write_json(staging / METADATA, meta)
        fsync_dir(staging / "tables")
        fsync_dir(staging)
        if target.exists():
            target.rmdir()  # checked empty above
        os.replace(staging, target)
        fsync_dir(target.parent)
    except OSError as exc:
        raise BackupFailed(f"cannot write the backup to {target}: {exc}. Hint: check the folder's space and permissions.") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    copies = tuple(TableCopy(name, info["rows"]) for name, info in tables.items())
    return BackupResult(target, copies, tuple(applied), suites)


def _check_target(target: Path) -> None:
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InvalidRequest(f"{target} already exists and is not an empty folder. Hint: back up into a new folder, e.g. backups/$(date +%Y%m%d).")
    if not target.parent.is_dir():
        raise InvalidRequest(f"cannot back up into {target}: the folder {target.parent} does not exist. Hint: create it first.")
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise InvalidRequest(f"cannot back up into {target}: the folder {target.parent} is not writable. Hint: choose a writable folder.")


def _write_table(folder: Path, name: str, frame: pl.DataFrame) -> dict[str, Any]:
    path = folder / "tables" / f"{name}.parquet"
    frame.write_parquet(path)
    fsync_file(path)
    return {"file": f"tables/{name}.parquet", "rows": frame.height, "sha256": _sha256(path), "columns": frame.columns}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    fsync_file(path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def restore(source: Path, actor: str, engine: Engine | None = None) -> RestoreResult:
    """Load a backup into an empty store (migrated here if new), keeping every id."""
    meta = read_metadata(source)
    frames = _verified_frames(source, meta)
    engine = engine or db.get_engine()
    _refuse_non_empty(engine)
    migrations.migrate(engine)
    copies = []
    with db.write(engine) as conn:
        _refuse_non_empty(engine, conn)  # again inside the write lock: nobody wrote in between
        for table in dump.DATA_TABLES:
            frame = frames.get(table.name)
            copies.append(TableCopy(table.name, 0 if frame is None else dump.load_table(conn, table, frame)))
        dump.reset_sequences(conn)
        audit.record(
            conn, actor, "store.restored", "store", None,
            backup=str(source), backup_created_at=meta["created_at"], rows={c.name: c.rows for c in copies},
        )
    return RestoreResult(source, tuple(copies), meta["created_at"])


def read_metadata(source: Path) -> dict[str, Any]:
    path = source / METADATA
    if not path.is_file():
        raise RestoreRefused(f"{source} is not a complete backup: {METADATA} is missing. Hint: point restore at a folder written by `python manage.py backup DIR`.")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RestoreRefused(f"{path} cannot be read: {exc}. Hint: the backup is damaged; use another one.") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise RestoreRefused(f"{path} is not a {FORMAT} backup. Hint: point restore at a folder written by `python manage.py backup DIR`.")
    known = {*migrations.revisions(), *migrations.LEGACY}  # backups taken before Alembic name the old steps
    newer = [name for name in meta.get("migrations", []) if name not in known]
    if newer:
        raise RestoreRefused(f"the backup {source} comes from a newer schema (migrations {', '.join(newer)}). Hint: restore with the version of this tool that took it.")
    return meta


def _verified_frames(source: Path, meta: dict[str, Any]) -> dict[str, pl.DataFrame]:
    known = {t.name: t for t in dump.DATA_TABLES}
    frames = {}
    for name, info in meta["tables"].items():
        path = source / info["file"]
        if name not in known:
            raise RestoreRefused(f"the backup holds a table {name!r} this version does not know. Hint: restore with the version of this tool that took it.")
        if not path.is_file() or _sha256(path) != info["sha256"]:
            raise RestoreRefused(f"{path} is missing or damaged (its SHA-256 does not match {METADATA}). Hint: use another backup.")
        frame = pl.read_parquet(path)
        unknown = sorted(set(frame.columns) - {c.name for c in known[name].columns})
        if frame.height != info["rows"] or unknown:
            raise RestoreRefused(f"{path} does not match {METADATA} (rows {frame.height} != {info['rows']} or unknown columns {unknown}). Hint: use another backup.")
        frames[name] = frame
    return frames


def _refuse_non_empty(engine: Engine, conn: Any = None) -> None:
    if conn is None:
        with db.read(engine) as reader:
            filled = dump.non_empty_tables(reader)
    else:
        filled = dump.non_empty_tables(conn)
    if filled:
        where = engine.url.render_as_string(hide_password=True)
        raise RestoreRefused(
            f"the store at {where} is not empty (tables {', '.join(filled)} hold rows); restore only fills an empty store. "
            "Hint: point DQ_STORE_URL at a new database (or move the SQLite file away) and run restore again."
        )
