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
