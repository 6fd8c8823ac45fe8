"""The health document: heartbeat age by the database clock, overdue suites, waiting requests, store down."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from ops import health
from scheduler.metrics import registry, render
from store import db, scheduling, schema
from tests.scheduler.helpers import load_rules


def _beat(age_seconds: float = 0.0, status: str = "running") -> None:
    with db.write() as conn:
        scheduling.register_scheduler(conn, "one", host="h", pid=1, timezone="UTC", stale_seconds=30,
                                      single_active=False, alive=lambda host, pid: True)
        conn.execute(schema.scheduler_heartbeats.update().values(
            beat_at=scheduling.db_now(conn) - timedelta(seconds=age_seconds), status=status))


def test_no_scheduler_ever_is_unhealthy_with_the_fix(store_url: str) -> None:
    report = health.check()
    assert (report.healthy, report.store_reachable, report.scheduler_heartbeat_age_seconds) == (False, True, None)
    assert "no scheduler has ever run against this store" in report.problems[0]
    assert "Hint: start it with `python manage.py scheduler`" in report.problems[0]


def test_a_fresh_heartbeat_and_nothing_due_is_healthy(store_url: str) -> None:
    _beat(age_seconds=1)
    report = health.check()
    assert report.healthy, report.problems
    assert 0.9 < report.scheduler_heartbeat_age_seconds < 5
    assert report.to_dict()["schedulers"][0]["live"] is True


@pytest.mark.parametrize(("age", "status"), [(60, "running"), (0, "stopped")])
def test_a_stale_or_stopped_scheduler_is_unhealthy(sqlite_store: str, age: float, status: str) -> None:
    _beat(age_seconds=age, status=status)
    report = health.check()
    assert not report.healthy
    assert "no scheduler heartbeat in the last 20s (last seen: one" in report.problems[0]


def test_overdue_suites_and_waiting_requests_are_named(sqlite_store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DQ_OVERDUE_GRACE_SECONDS", "60")
    load_rules(tmp_path / "rules", {"silver_orders": "* * * * *"})
    _beat()
    with db.write() as conn:
        conn.execute(schema.scheduler_heartbeats.update().values(beat_at=scheduling.db_now(conn)))
        request_id = scheduling.enqueue_request(conn, "silver_orders", rule_name=None, requested_by="ann", origin="cli")
        conn.execute(schema.run_requests.update().where(schema.run_requests.c.id == request_id)
                     .values(requested_at=scheduling.db_now(conn) - timedelta(minutes=5)))
        scheduling.claim_schedule(conn, "silver_orders", scheduling.db_now(conn) - timedelta(minutes=10), "one")
    report = health.check()
    assert not report.healthy
    (late,) = report.overdue_suites
    assert late.suite == "silver_orders" and late.late_seconds > 60
    assert report.pending_run_requests == 1 and report.oldest_pending_request_age_seconds >= 300
    assert [p.split(":")[0] for p in report.problems] == ["suite 'silver_orders' is overdue", "1 run request(s) pending, the oldest for 300s. Hint"]


def test_an_unreachable_store_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DQ_STORE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    report = health.check()
    assert (report.healthy, report.store_reachable) == (False, False)
    assert "cannot be reached" in report.problems[0]
    metrics = render(registry()).decode()
    assert "dq_healthy 0.0" in metrics and "dq_store_reachable 0.0" in metrics
    assert "dq_scheduler_heartbeat_age_seconds" not in metrics  # unknown is absent, never -1


# --- never silently dead (issue 13, deliverable 1) -------------------------------------------


def _warehouse_without_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rules whose table does not exist: every check is ERROR."""
    import sqlite3

    sqlite3.connect(tmp_path / "empty.db").close()
    monkeypatch.setenv("DQ_RULES_DIR", str(tmp_path / "rules"))
    monkeypatch.setenv("DQ_SOURCE_WAREHOUSE_URL", f"sqlite:///{tmp_path / 'empty.db'}")


def _age_rules(minutes: float) -> None:
    """As if the rules had been loaded `minutes` ago."""
    with db.write() as conn:
        conn.execute(schema.rules.update().values(created_at=scheduling.db_now(conn) - timedelta(minutes=minutes)))


def test_an_enabled_high_rule_whose_latest_result_is_error_makes_health_503(store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json
    import urllib.error
    import urllib.request

    from ops.run_checks import run_suite
    from scheduler.http import HEALTH_PATH, serve

    _warehouse_without_table(tmp_path, monkeypatch)
    monkeypatch.setenv("DQ_OVERDUE_GRACE_SECONDS", str(2 * 86400))  # today's 03:00 tick is not the point here
    load_rules(tmp_path / "rules", {"silver_orders": "0 3 * * *"})
    _beat()
    assert health.check().healthy
    run_suite("silver_orders")  # both rules ERROR: no such table
    report = health.check()
    assert not report.healthy
    (errored,) = report.error_rules  # the LOW rule's ERROR pages, but does not make the system unhealthy
    assert (errored.rule, errored.severity, errored.suite) == ("silver_orders_id_not_null", "HIGH", "silver_orders")
    assert "orders" in errored.reason
    (problem,) = report.problems
    assert problem.startswith("rule 'silver_orders_id_not_null' (HIGH, suite silver_orders) could not run: ")
    assert "Hint: fix what the error names, then re-run it with `python manage.py run_dq_checks --rule-name silver_orders_id_not_null`" in problem

    server = serve("127.0.0.1", 0, lambda: {})
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}{HEALTH_PATH}"
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(url, timeout=10)
        assert answer.value.code == 503
        body = json.loads(answer.value.read())
        assert body["healthy"] is False and body["error_rules"][0]["rule"] == "silver_orders_id_not_null"
        assert "silver_orders_id_not_null" in body["problems"][0]
    finally:
        server.shutdown()
        server.server_close()

    # a disabled rule is not watched; the next good run clears it
    import sqlite3

    with sqlite3.connect(tmp_path / "empty.db") as conn:
        conn.execute("CREATE TABLE orders (id INTEGER, amount REAL)")
    run_suite("silver_orders")
    assert health.check().healthy, health.check().problems


def test_a_suite_never_claimed_and_never_evaluated_for_two_periods_is_unhealthy(sqlite_store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Measured: two suites hung on a lock starved three others; health stayed green, `overdue_suites: []`."""
    monkeypatch.setenv("DQ_OVERDUE_GRACE_SECONDS", "30")
    load_rules(tmp_path / "rules", {"silver_orders": "*/5 * * * *", "silver_daily": "0 3 * * *"})
    _beat()
    # every due tick claimed (by a scheduler whose runs never finish): the claim-based check sees nothing
    from ops.cron import latest_tick

    with db.write() as conn:
        now = scheduling.db_now(conn)
        for suite, expr in (("silver_orders", "*/5 * * * *"), ("silver_daily", "0 3 * * *")):
            scheduling.claim_schedule(conn, suite, latest_tick(expr, "UTC", now), "one")
    _age_rules(9)  # loaded 9 min ago: less than 2 periods of 5 min (+ grace), nothing to say yet
    assert health.check().healthy, health.check().problems
    _age_rules(11)
    report = health.check()
    assert not report.healthy
    (stale,) = report.stale_suites
    assert (stale.suite, stale.period_seconds, stale.last_complete_at) == ("silver_orders", 300, None)
    assert report.overdue_suites == []
    (problem,) = report.problems
    assert problem.startswith("suite 'silver_orders' has had no complete evaluation since it was loaded")
    assert "more than 2 of its scheduled periods (300s)" in problem and "Hint:" in problem


def test_aborted_and_running_runs_are_not_a_complete_evaluation(store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from store.results import abort_run, start_run

    monkeypatch.setenv("DQ_OVERDUE_GRACE_SECONDS", "30")
    load_rules(tmp_path / "rules", {"silver_orders": "*/5 * * * *"})
    _beat()
    _age_rules(60)
    with db.write() as conn:
        done = start_run(conn, "silver_orders", "warehouse", "schedule")
        conn.execute(schema.runs.update().where(schema.runs.c.id == done).values(
            status="PASSED", rules_total=2, rules_error=0, finished_at=scheduling.db_now(conn) - timedelta(minutes=30)))
        abort_run(conn, start_run(conn, "silver_orders", "warehouse", "schedule"), "lease lost")
        start_run(conn, "silver_orders", "warehouse", "schedule")  # hung, RUNNING
        all_error = start_run(conn, "silver_orders", "warehouse", "schedule")
        conn.execute(schema.runs.update().where(schema.runs.c.id == all_error).values(
            status="ERROR", rules_total=2, rules_error=2, finished_at=scheduling.db_now(conn)))
    (stale,) = health.check().stale_suites
    assert stale.suite == "silver_orders" and 1790 < stale.age_seconds < 1900
    assert stale.last_complete_at is not None
    with db.write() as conn:
        partial = start_run(conn, "silver_orders", "warehouse", "schedule")
        conn.execute(schema.runs.update().where(schema.runs.c.id == partial).values(
            status="ERROR", rules_total=2, rules_error=1, finished_at=scheduling.db_now(conn)))
    report = health.check()
    assert report.stale_suites == []
    assert not [p for p in report.problems if "complete evaluation" in p]
