"""One scheduler per identity, and fencing, with real processes: twins started at the same instant,
and schedulers paused with SIGSTOP that wake after being superseded or losing their lease."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import sqlalchemy as sa

from store import db, schema
from tests.conftest import connectorx_url
from tests.scheduler.helpers import (
    Lock,
    Process,
    load_rules,
    pg_warehouse,
    runs,
    sqlite_warehouse,
    start_scheduler,
    wait_for,
)


def _env(tmp_path: Path, source_url: str) -> dict[str, str]:
    return {"DQ_RULES_DIR": str(tmp_path / "rules"), "DQ_SOURCE_WAREHOUSE_URL": source_url}


def _beat_of(name: str) -> tuple[str, object]:
    with db.read() as conn:
        row = conn.execute(sa.select(schema.scheduler_heartbeats.c.status, schema.scheduler_heartbeats.c.beat_at)
                           .where(schema.scheduler_heartbeats.c.scheduler_id == name)).one()
    return row.status, row.beat_at


def test_twins_started_at_the_same_instant_on_postgresql_run_one(pg_store: str, tmp_path: Path) -> None:
    env = _env(tmp_path, sqlite_warehouse(tmp_path / "wh.db"))
    load_rules(tmp_path / "rules", {"s1": "0 0 * * *"})
    for attempt in range(5):
        twins = [start_scheduler(tmp_path, "twin", env) for _ in range(2)]
        try:
            def one_gone(twins: list[Process] = twins) -> bool:
                return any(p.popen.poll() is not None for p in twins)

            wait_for("one twin to give up", one_gone, timeout=60)
            time.sleep(2)  # the survivor must still be running, the loser gone
            alive = [p for p in twins if p.popen.poll() is None]
            gone = [p for p in twins if p.popen.poll() is not None]
            assert len(alive) == 1 and len(gone) == 1, [p.output() for p in twins]
            assert gone[0].popen.returncode == 2
            assert "is already running under the id 'twin'" in gone[0].output()
        finally:
            codes = [p.stop() for p in twins]
        assert 0 in codes, (attempt, [p.output() for p in twins])


def _pause_outside_a_write(proc: Process, store_url: str) -> None:
    """SIGSTOP the scheduler at a moment it holds no SQLite write lock.

    A process paused inside a write transaction keeps the file locked, and every other writer
    waits on it: that is SQLite, not the scheduler, and not what this test is about.
    """
    path = store_url.split(":///", 1)[1]
    for _ in range(200):
        proc.popen.send_signal(signal.SIGSTOP)
        probe = sqlite3.connect(path, timeout=0.05, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return
        except sqlite3.OperationalError:
            proc.popen.send_signal(signal.SIGCONT)
            time.sleep(0.05)
        finally:
            probe.close()
    raise AssertionError("the scheduler was always inside a write transaction")


def test_a_paused_scheduler_on_sqlite_that_was_superseded_writes_nothing_and_stops(sqlite_store: str, tmp_path: Path) -> None:
    env = _env(tmp_path, sqlite_warehouse(tmp_path / "wh.db"))
    load_rules(tmp_path / "rules", {"s1": "* * * * * *", "s2": "* * * * * *"})
    first = start_scheduler(tmp_path, "a", env)
    second: Process | None = None
    try:
        wait_for("runs by a", lambda: len([r for r in runs(worker="a") if r["status"] == "FAILED"]) >= 2, process=first)
        _pause_outside_a_write(first, sqlite_store)
        time.sleep(7)  # longer than a heartbeat is trusted (3 x 0.3 s + 5 s)
        before = _beat_of("a")
        second = start_scheduler(tmp_path, "b", env)
        wait_for("runs by b", lambda: len([r for r in runs(worker="b") if r["status"] == "FAILED"]) >= 3, process=second)
        ids_before = {r["id"] for r in runs(worker="a")}
        first.popen.send_signal(signal.SIGCONT)
        code = first.popen.wait(20)
        time.sleep(1)
        assert code == 3, first.output()
        assert "stopped without writing" in first.output() and "was superseded" in first.output()
        assert {r["id"] for r in runs(worker="a")} == ids_before  # not one run started after waking
        assert _beat_of("a") == ("superseded", before[1])  # not even a heartbeat
        assert second.popen.poll() is None
        count = len(runs(worker="b"))
        wait_for("b going on", lambda: len(runs(worker="b")) > count + 2, process=second)
    finally:
        first.popen.send_signal(signal.SIGCONT)
        first.stop(signal.SIGKILL)
        if second is not None:
            assert second.stop() == 0, second.output()
    assert not [r for r in runs() if r["status"] == "RUNNING"]


def test_a_paused_replica_whose_lease_passed_on_writes_nothing_and_stops(pg_store: str, pg_url: str, tmp_path: Path) -> None:
    # The warehouse table lives in the store's own database here; a read of it hangs on the lock.
    pg_warehouse(pg_url)
    env = _env(tmp_path, connectorx_url(pg_url))
    load_rules(tmp_path / "rules", {"gold_daily": "0 0 * * *"})
    lock = Lock(pg_url)
    first = start_scheduler(tmp_path, "a", env)
    second: Process | None = None
    try:
        (hung,) = wait_for("a's run hanging on the lock", lambda: runs(status="RUNNING"), process=first)
        first.popen.send_signal(signal.SIGSTOP)
        time.sleep(4)  # the lease (3 s) expires unrenewed
        second = start_scheduler(tmp_path, "b", env)
        wait_for("b taking the suite over", lambda: runs(worker="b", status="RUNNING"), process=second)
        first.popen.send_signal(signal.SIGCONT)
        code = first.popen.wait(20)
        assert code == 3, first.output()
        assert "no longer held" in first.output() and "stopped without writing" in first.output()
        lock.release_now()
        wait_for("b's run to finish", lambda: runs(worker="b", status="FAILED"), process=second)
    finally:
        first.popen.send_signal(signal.SIGCONT)
        first.stop(signal.SIGKILL)
        lock.release()
        if second is not None:
            assert second.stop() == 0, second.output()
    again = runs(due_at=hung["due_at"])
    assert [(r["worker"], r["status"]) for r in again] == [("a", "ABORTED"), ("b", "FAILED")]
