"""The scheduler as a real process on real stores: schedules, requests, health, kill -9, timeouts, replicas."""

from __future__ import annotations

import shutil
import signal
from collections import Counter
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from ops.run_requests import request_run, request_status
from store import db, scheduling
from tests.conftest import connectorx_url
from tests.scheduler.helpers import (
    get,
    health,
    load_rules,
    manage,
    pg_warehouse,
    runs,
    sqlite_warehouse,
    start_scheduler,
    wait_for,
)


def _env(tmp_path: Path, source_url: str, **extra: str) -> dict[str, str]:
    return {"DQ_RULES_DIR": str(tmp_path / "rules"), "DQ_SOURCE_WAREHOUSE_URL": source_url, **extra}


def _finished(trigger: str) -> list[dict]:
    return [r for r in runs(trigger=trigger) if r["status"] not in ("RUNNING", "ABORTED")]


def _hold_ghost_lease(suite: str) -> bool:
    with db.write() as conn:
        return scheduling.take_lease(conn, suite, "ghost", 3600)


def test_runs_on_schedule_and_on_request_and_serves_health(store_url: str, tmp_path: Path) -> None:
    env = _env(tmp_path, sqlite_warehouse(tmp_path / "wh.db"), DQ_OVERDUE_GRACE_SECONDS="6")
    load_rules(tmp_path / "rules", {"silver_orders": "* * * * * */2"})
    proc = start_scheduler(tmp_path, "one", env)
    try:
        (first, *_) = wait_for("a scheduled run", lambda: _finished("schedule"), process=proc)
        assert (first["status"], first["worker"], first["rules_failed"]) == ("FAILED", "one", 1)
        assert first["due_at"] is not None

        # Rules loaded while it runs take effect without a restart.
        load_rules(tmp_path / "rules", {"silver_orders": "* * * * * */2", "gold_new": "* * * * * */2"})
        wait_for("the newly loaded suite", lambda: [r for r in _finished("schedule") if r["suite"] == "gold_new"], process=proc)

        request_id = request_run("silver_orders", "silver_orders_id_not_null", requested_by="ann", origin="console")
        wait_for("the request", lambda: request_status(request_id).status == "done", process=proc)
        (requested,) = _finished("request")
        assert (requested["requested_by"], requested["rules_total"]) == ("ann", 1)

        status, report = wait_for("healthy", lambda: (h := health(proc))[0] == 200 and h, process=proc)
        assert report["healthy"] and report["store_reachable"]
        assert report["schedulers"][0]["scheduler_id"] == "one"
        assert report["last_successful_run"]["suite"] in {"silver_orders", "gold_new"}
        status, metrics = get(proc.url("/metrics"))
        assert status == 200
        assert 'dq_runs_total{status="FAILED",suite="silver_orders",trigger="schedule"}' in metrics
        assert "dq_run_requests_pending 0.0" in metrics
        assert 'dq_scheduler_events_total{detail="request",event="started"} 1.0' in metrics

        # A lease nobody renews-but-valid keeps the suite from running: overdue and a waiting request.
        wait_for("the ghost lease", lambda: _hold_ghost_lease("silver_orders"), process=proc)
        stuck = request_run("silver_orders", requested_by="bob", origin="cli")
        def both_problems() -> tuple[int, dict] | None:
            status, report = health(proc)
            return (status, report) if report["overdue_suites"] and len(report["problems"]) == 2 else None

        status, report = wait_for("overdue and a waiting request", both_problems, process=proc)
        assert status == 503
        problems = " ".join(report["problems"])
        assert "suite 'silver_orders' is overdue" in problems
        assert "run request(s) pending" in problems
        assert report["overdue_suites"][0]["suite"] == "silver_orders"

        with db.write() as conn:
            scheduling.release_lease(conn, "silver_orders", "ghost")
        wait_for("the stuck request", lambda: request_status(stuck).status == "done", process=proc)
        wait_for("healthy again", lambda: health(proc)[0] == 200, process=proc)
        if store_url.startswith("sqlite"):
            healthy = manage("health", env=env)
            assert healthy.returncode == 0, healthy.stdout
            second = manage("scheduler", "--id", "two", env=env)
            assert second.returncode == 2
            assert "scheduler 'one'" in second.stderr and "single active scheduler" in second.stderr
    finally:
        code = proc.stop()
    assert code == 0, proc.output()
    assert "scheduler 'one' stopped" in proc.output()
    if store_url.startswith("sqlite"):
        down = manage("health", env=env)
        assert down.returncode == 1
        assert "no scheduler heartbeat" in down.stdout


def _lock_orders(url: str) -> sa.Connection:
    """Hold an exclusive lock on the source table: every read of it hangs until released."""
    conn = sa.create_engine(url).connect()
    conn.begin()
    conn.exec_driver_sql("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
    return conn


def _release(lock: sa.Connection) -> None:
    lock.rollback()
    lock.close()
    lock.engine.dispose()


def test_a_run_left_by_kill_9_is_aborted_and_run_again(store_url: str, pg_url: str, tmp_path: Path) -> None:
    pg_warehouse(pg_url)
    env = _env(tmp_path, connectorx_url(pg_url))
    load_rules(tmp_path / "rules", {"gold_daily": "0 0 * * *"})
    lock = _lock_orders(pg_url)
    try:
        first = start_scheduler(tmp_path, "one", env)
        (hung,) = wait_for("a run hanging on the lock", lambda: runs(status="RUNNING"), process=first)
        first.stop(signal.SIGKILL)
        second = start_scheduler(tmp_path, "one", env)
        # Keep the table locked until the repair: an orphaned query that finished first would race it.
        wait_for("the repair", lambda: runs(status="ABORTED"), process=second)
    finally:
        _release(lock)
    try:
        wait_for("the re-run", lambda: [r for r in runs(due_at=hung["due_at"]) if r["status"] == "FAILED"], process=second)
    finally:
        assert second.stop() == 0, second.output()
    again = runs(due_at=hung["due_at"])
    assert [r["status"] for r in again] == ["ABORTED", "FAILED"]  # once aborted, run once more: not twice
    assert "stopped renewing the lease" in again[0]["error"]
    assert "marked ABORTED; it runs again" in second.output()


def test_a_hung_query_is_stopped_at_the_timeout_and_the_loop_goes_on(sqlite_store: str, pg_url: str, tmp_path: Path) -> None:
    pg_warehouse(pg_url)
    env = _env(tmp_path, connectorx_url(pg_url), DQ_SUITE_TIMEOUT_SECONDS="8")
    load_rules(tmp_path / "rules", {"gold_daily": "0 0 * * *"})
    lock = _lock_orders(pg_url)
    proc = start_scheduler(tmp_path, "one", env)
    try:
        (timed_out,) = wait_for("the timeout", lambda: runs(status="ERROR"), process=proc)
        assert "ran longer than 8s and was stopped" in timed_out["error"]
        with db.read() as conn:
            messages = conn.execute(sa.text("SELECT status, message FROM results WHERE run_id = :r"), {"r": timed_out["id"]}).all()
        assert {status for status, _ in messages} == {"ERROR"} and len(messages) == 2
        assert "Hint: raise the timeout (--timeout, DQ_SUITE_TIMEOUT_SECONDS)" in messages[0][1]
        _release(lock)
        lock = None
        request_id = request_run("gold_daily", requested_by="ann", origin="cli")
        wait_for("a run after the timeout", lambda: request_status(request_id).status == "done", process=proc)
        assert runs(trigger="request")[0]["status"] == "FAILED"
    finally:
        if lock is not None:
            _release(lock)
        assert proc.stop() == 0, proc.output()


def test_two_replicas_on_postgresql_share_suites_and_never_run_one_tick_twice(pg_store: str, tmp_path: Path) -> None:
    env = _env(tmp_path, sqlite_warehouse(tmp_path / "wh.db"))
    load_rules(tmp_path / "rules", {f"s{n}": "* * * * * *" for n in range(4)})
    replicas = [start_scheduler(tmp_path, name, env) for name in ("a", "b")]
    try:
        def both_worked() -> bool:
            done = [r for r in runs() if r["status"] == "FAILED"]
            return len(done) >= 6 and {r["worker"] for r in done} == {"a", "b"}

        wait_for("both replicas to run suites", both_worked, timeout=60)
    finally:
        codes = [p.stop() for p in replicas]
    assert codes == [0, 0], [p.output() for p in replicas]
    done = [r for r in runs() if r["status"] != "ABORTED"]
    ticks = Counter((r["suite"], r["due_at"]) for r in done)
    assert ticks.most_common(1)[0][1] == 1  # no suite ran twice for one due time
    for suite in {r["suite"] for r in done}:
        spans = sorted((r["started_at"], r["finished_at"]) for r in done if r["suite"] == suite)
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            assert start >= end - timedelta(milliseconds=50)  # never two runs of one suite at once


def test_once_runs_what_is_due_and_what_is_requested_then_exits(sqlite_store: str, tmp_path: Path) -> None:
    env = _env(tmp_path, sqlite_warehouse(tmp_path / "wh.db"))
    load_rules(tmp_path / "rules", {"silver_orders": "0 0 * * *", "gold_orders": "* * * * * *"})
    request_id = request_run("silver_orders", requested_by="ann", origin="cli")
    done = manage("scheduler", "--once", "--id", "cron-job", env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert request_status(request_id).status == "done"
    finished = Counter((r["suite"], r["trigger"]) for r in runs() if r["status"] == "FAILED")
    # every suite's due tick once (even the every-second one), plus the request
    assert finished == {("silver_orders", "schedule"): 1, ("gold_orders", "schedule"): 1, ("silver_orders", "request"): 1}


def test_a_broken_approval_matrix_stops_the_start_naming_the_file(sqlite_store: str, tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(Path(__file__).resolve().parents[2] / "config", config)
    (config / "approval_matrix.yaml").write_text("layers: [silver\n")
    env = _env(tmp_path, sqlite_warehouse(tmp_path / "wh.db"), DQ_CONFIG_DIR=str(config))
    done = manage("scheduler", "--once", env=env, timeout=120)
    assert done.returncode == 2
    assert "configuration:" in done.stderr and "approval_matrix.yaml" in done.stderr
