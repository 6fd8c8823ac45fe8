"""Fair scheduling with real processes: a hung source starves no suite and leaves no backend behind,
due ticks go before run requests, identical requests coalesce, merged ticks are recorded; and the
pure parts (order, per-source limits, back-off) as tables of cases."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from engine.manifest import load_catalog
from engine.model import Suite
from ops.cron import DueWork
from ops.run_requests import request_run
from scheduler.fairness import Backoff, Sources, order
from store import db, scheduling
from store.rules import sync_catalog
from tests.conftest import connectorx_url
from tests.scheduler.helpers import (
    Lock,
    load_rules,
    runs,
    sqlite_warehouse,
    start_scheduler,
    wait_for,
)

MANIFEST = """\
suite: {name}
source: {source}
table: {table}
layer: silver
schedule: "{schedule}"
rules:
  - {{name: {name}_id_not_null, check: not_null, column: id, severity: HIGH}}
"""


def _load(rules: Path, suites: dict[str, tuple[str, str, str]], sources: str) -> None:
    """suites: name -> (source, table, schedule)."""
    rules.mkdir(exist_ok=True)
    (rules / "sources.yaml").write_text(sources)
    for name, (source, table, schedule) in suites.items():
        (rules / f"{name}.yaml").write_text(MANIFEST.format(name=name, source=source, table=table, schedule=schedule))
    catalog = load_catalog([rules], default_sources=rules / "sources.yaml")
    with db.write() as conn:
        sync_catalog(conn, catalog, "test", prune=True)


def _warehouse(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for table in ("orders", "customers"):
            conn.exec_driver_sql(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, amount INTEGER)")
            conn.exec_driver_sql(f"INSERT INTO {table} VALUES (1, 10), (2, 20)")
    engine.dispose()


def test_a_locked_table_starves_no_other_suite_and_leaves_no_backend(sqlite_store: str, pg_url: str, tmp_path: Path) -> None:
    """The issue's figure: 2 suites on a locked PostgreSQL table, 3 healthy ones sorting after them."""
    _warehouse(pg_url)
    every = "* * * * * */3"
    suites = {f"a_hung{n}": ("wh", "orders", every) for n in (1, 2)}
    suites |= {f"z_ok{n}": ("wh", "customers", every) for n in (1, 2, 3)}
    _load(tmp_path / "rules", suites, "sources:\n  wh: {kind: sql}\n")
    env = {"DQ_RULES_DIR": str(tmp_path / "rules"), "DQ_SOURCE_WH_URL": connectorx_url(pg_url),
           "DQ_SUITE_TIMEOUT_SECONDS": "4", "DQ_SCHEDULER_CONCURRENCY": "2"}
    lock = Lock(pg_url)
    proc = start_scheduler(tmp_path, "one", env)
    most_waiting = 0
    try:
        wait_for("the first timeouts", lambda: len(runs(status="ERROR")) >= 2, process=proc, timeout=60)
        started = time.monotonic()
        while time.monotonic() - started < 30:
            most_waiting = max(most_waiting, lock.waiting())
            time.sleep(0.5)
        window = [r for r in runs() if r["status"] != "RUNNING"]
    finally:
        lock.release_now()
        code = proc.stop()
        waiting_after = lock.waiting()
        lock.release()
    assert code == 0, proc.output()
    healthy = Counter(r["suite"] for r in window if r["suite"].startswith("z_ok") and r["status"] == "PASSED")
    # 10 ticks each in 30 s; the issue measured 0 in 3 minutes. Each must get most of its ticks.
    assert min(healthy[f"z_ok{n}"] for n in (1, 2, 3)) >= 6, (healthy, proc.output())
    timeouts = [r for r in window if r["suite"].startswith("a_hung")]
    assert all(r["status"] == "ERROR" and "ran longer than 4s" in r["error"] for r in timeouts)
    assert len(timeouts) <= 8  # backed off: not one attempt per tick (20 ticks)
    assert "timed out 2 time(s) in a row" in proc.output()
    assert most_waiting <= 2  # at most the reads running now; none left over from earlier runs
    assert waiting_after == 0


def test_due_ticks_go_before_requests_and_identical_requests_coalesce(sqlite_store: str, tmp_path: Path) -> None:
    env = {"DQ_RULES_DIR": str(tmp_path / "rules"), "DQ_SOURCE_WAREHOUSE_URL": sqlite_warehouse(tmp_path / "wh.db"),
           "DQ_SCHEDULER_CONCURRENCY": "1"}
    load_rules(tmp_path / "rules", {"s1": "* * * * * */2", "s2": "* * * * * */2"})
    requests = [request_run("s1", requested_by=f"writer{n % 16}", origin="cli") for n in range(300)]
    requests += [request_run("s1", "s1_id_not_null", requested_by="ann", origin="cli") for _ in range(50)]
    proc = start_scheduler(tmp_path, "one", env)
    try:
        def all_done() -> bool:
            with db.read() as conn:
                return all(getattr(scheduling.request(conn, r), "status", None) == "done" for r in requests)

        wait_for("every request", all_done, process=proc, timeout=60)
        first_request_run = min(r["started_at"] for r in runs(trigger="request"))
        wait_for("scheduled runs of both", lambda: {r["suite"] for r in runs(trigger="schedule")
                                                    if r["status"] == "FAILED"} == {"s1", "s2"}, process=proc)
    finally:
        assert proc.stop() == 0, proc.output()
    by_trigger = Counter(r["trigger"] for r in runs())
    assert by_trigger["request"] <= 4, by_trigger  # 350 requests, two kinds: a handful of runs, not 350
    scheduled = runs(trigger="schedule")
    # The due ticks waiting at start ran before the first request.
    assert {r["suite"] for r in scheduled if r["started_at"] <= first_request_run} == {"s1", "s2"}
    assert "identical pending request(s) coalesced" in proc.output()


def test_a_request_behind_a_stream_of_due_ticks_still_runs(sqlite_store: str, tmp_path: Path) -> None:
    # One worker, three every-second suites: due work always waits, so requests would starve.
    env = {"DQ_RULES_DIR": str(tmp_path / "rules"), "DQ_SOURCE_WAREHOUSE_URL": sqlite_warehouse(tmp_path / "wh.db"),
           "DQ_SCHEDULER_CONCURRENCY": "1", "DQ_OVERDUE_GRACE_SECONDS": "6"}
    load_rules(tmp_path / "rules", {f"s{n}": "* * * * * *" for n in range(3)})
    proc = start_scheduler(tmp_path, "one", env)
    try:
        wait_for("the stream", lambda: len(runs(trigger="schedule")) >= 3, process=proc)
        request_id = request_run("s0", requested_by="ann", origin="console")
        asked = time.monotonic()

        def served() -> bool:
            with db.read() as conn:
                return getattr(scheduling.request(conn, request_id), "status", None) == "done"

        wait_for("the request", served, process=proc, timeout=30)
        waited = time.monotonic() - asked
    finally:
        assert proc.stop() == 0, proc.output()
    assert 2.5 < waited < 12  # held back for half the grace (3 s) behind due ticks, then served


def test_missed_ticks_merged_into_one_run_are_recorded(sqlite_store: str, tmp_path: Path) -> None:
    env = {"DQ_RULES_DIR": str(tmp_path / "rules"), "DQ_SOURCE_WAREHOUSE_URL": sqlite_warehouse(tmp_path / "wh.db")}
    load_rules(tmp_path / "rules", {"hourly": "0 * * * *"})
    due = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=6)
    with db.write() as conn:  # the last tick claimed six hours ago: the scheduler was down since
        assert scheduling.claim_schedule(conn, "hourly", due, "old")
    proc = start_scheduler(tmp_path, "one", env)
    try:
        (run,) = wait_for("the catch-up run", lambda: [r for r in runs() if r["status"] == "FAILED"], process=proc)
    finally:
        assert proc.stop() == 0, proc.output()
    assert run["merged_ticks"] == 5 and run["first_due_at"] == due + timedelta(hours=1)
    assert run["due_at"] == due + timedelta(hours=6)
    assert "5 missed tick(s)" in proc.output()


# --- the pure parts ------------------------------------------------------------------------

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _suites(tmp_path: Path, *names: str) -> dict[str, Suite]:
    rules = tmp_path / "pure"
    rules.mkdir()
    (rules / "sources.yaml").write_text("sources:\n  wh: {kind: sql}\n")
    for name in names:
        (rules / f"{name}.yaml").write_text(MANIFEST.format(name=name, source="wh", table="t", schedule="0 * * * *"))
    catalog = load_catalog([rules], default_sources=rules / "sources.yaml")
    return {suite.name: suite for suite in catalog.suites}


def _due(suite: Suite, minutes_late: int, merged_from: int | None = None) -> tuple[Suite, DueWork]:
    due_at = T0 - timedelta(minutes=minutes_late)
    first = None if merged_from is None else T0 - timedelta(minutes=merged_from)
    return suite, DueWork(suite.name, due_at, None, merged_ticks=0 if first is None else 1, first_due_at=first)


def test_due_work_is_ordered_by_how_long_it_waited_never_by_name(tmp_path: Path) -> None:
    suites = _suites(tmp_path, "a_first_by_name", "m", "z_last_by_name")
    backoff = Backoff(30, 3600)
    work = [_due(suites["a_first_by_name"], 1), _due(suites["m"], 5), _due(suites["z_last_by_name"], 2, merged_from=10)]
    assert [s.name for s, _ in order(work, backoff)] == ["z_last_by_name", "m", "a_first_by_name"]
    backoff.strike("z_last_by_name")
    assert [s.name for s, _ in order(work, backoff)] == ["m", "a_first_by_name", "z_last_by_name"]


def test_back_off_doubles_per_timeout_up_to_its_cap_and_clears() -> None:
    backoff = Backoff(30, 100)
    assert [backoff.strike("s") for _ in range(4)] == [30, 60, 100, 100]
    assert not backoff.allows("s") and backoff.allows("s", now=time.monotonic() + 101)
    backoff.clear("s")
    assert backoff.allows("s") and backoff.strikes("s") == 0


def test_a_source_takes_every_worker_only_when_nothing_else_waits() -> None:
    sources = Sources(limit=1, running=Counter({"dead": 1}), waiting=Counter({"dead": 3, "ok": 1}))
    assert not sources.may_start("dead") and sources.may_start("ok")
    sources.started("ok")
    assert sources.may_start("dead")  # the other source's work has started: no worker stays idle
