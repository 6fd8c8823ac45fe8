"""The scheduler and the console write to one SQLite store at once without `database is locked`."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import sqlalchemy as sa

from store import db, schema

WRITER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    import clock
    from store import audit, db
    from store.results import abort_run, start_run
    for i in range(60):
        with db.write() as conn:
            # a read first, then writes: the pattern that fails with DEFERRED transactions
            conn.exec_driver_sql("SELECT count(*) FROM runs").scalar()
            run_id = start_run(conn, "s{n}", "warehouse", "schedule")
            abort_run(conn, run_id, "test")
            audit.record(conn, "writer{n}", "test.write", "run", run_id)
""")


def test_two_processes_write_at_once(sqlite_store: str, tmp_path: Path) -> None:
    root = str(Path(__file__).resolve().parents[2])
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER.format(root=root, n=n)], stderr=subprocess.PIPE, text=True)
        for n in (1, 2, 3)
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.runs)).scalar() == 180
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.audit_log)).scalar() == 180


def test_sqlite_store_uses_wal(sqlite_store: str) -> None:
    with db.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
