"""Leases, claims, heartbeats, the request queue and repair, on SQLite and PostgreSQL."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

import clock
from store import db, scheduling, schema
from store.errors import LeaseHeld

DUE = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def _running_run(conn, suite: str = "silver.orders") -> int:
    return conn.execute(schema.runs.insert().values(
        suite=suite, source="wh", trigger="schedule", status="RUNNING", started_at=clock.utcnow(),
    )).inserted_primary_key[0]


def _always_alive(host: str, pid: int) -> bool:
    return True


def _status(conn, run_id: int) -> str:
    return conn.execute(sa.select(schema.runs.c.status).where(schema.runs.c.id == run_id)).scalar_one()


def test_db_now_is_aware_utc_and_close_to_the_host(store_url: str) -> None:
    with db.read() as conn:
        now = scheduling.db_now(conn)
    assert now.tzinfo is UTC
    assert abs((now - clock.utcnow()).total_seconds()) < 5


def test_a_valid_lease_keeps_others_out_until_released(store_url: str) -> None:
    with db.write() as conn:
        assert scheduling.take_lease(conn, "silver.orders", "a", 60)
    with db.write() as conn:
        assert not scheduling.take_lease(conn, "silver.orders", "b", 60)
        assert scheduling.take_lease(conn, "gold.sales", "b", 60)
    with db.write() as conn:
        scheduling.release_lease(conn, "silver.orders", "a")
    with db.write() as conn:
        assert scheduling.take_lease(conn, "silver.orders", "b", 60)


def test_an_expired_lease_is_taken_over_and_its_run_aborted_and_reopened(store_url: str) -> None:
    with db.write() as conn:
        run_id = _running_run(conn)
        assert scheduling.take_lease(conn, "silver.orders", "dead", 60)
        scheduling.bind_lease(conn, "silver.orders", "dead", run_id)
        assert scheduling.claim_schedule(conn, "silver.orders", DUE, "dead")
        scheduling.bind_claim(conn, "silver.orders", DUE, run_id)
        scheduling.expire_leases(conn, ["dead"])
    with db.write() as conn:
        assert scheduling.take_lease(conn, "silver.orders", "alive", 60)
    with db.read() as conn:
        assert _status(conn, run_id) == "ABORTED"
        assert scheduling.last_due_times(conn) == {}  # the tick is due again: it runs once more
        actions = conn.execute(sa.select(schema.audit_log.c.action)).scalars().all()
    assert "run.aborted" in actions


def test_renewed_leases_do_not_expire(store_url: str) -> None:
    with db.write() as conn:
        run_id = _running_run(conn)
        scheduling.take_lease(conn, "silver.orders", "a", 0.5)
        scheduling.bind_lease(conn, "silver.orders", "a", run_id)
        assert scheduling.renew_leases(conn, "a", 60) == 1
    with db.write() as conn:
        assert scheduling.repair_expired(conn) == []
        assert not scheduling.take_lease(conn, "silver.orders", "b", 60)


def test_repair_aborts_runs_of_expired_leases_and_requeues_their_request(store_url: str) -> None:
    with db.write() as conn:
        request_id = scheduling.enqueue_request(conn, "silver.orders", rule_name=None, requested_by="ann", origin="cli")
        run_id = _running_run(conn)
        scheduling.take_lease(conn, "silver.orders", "dead", 60)
        scheduling.bind_lease(conn, "silver.orders", "dead", run_id)
        scheduling.claim_request(conn, request_id, "dead", run_id)
        assert scheduling.expire_leases(conn, ["dead"]) == 1
    with db.write() as conn:
        assert scheduling.repair_expired(conn) == [run_id]
    with db.read() as conn:
        assert _status(conn, run_id) == "ABORTED"
        assert [r.id for r in scheduling.pending_requests(conn)] == [request_id]
    with db.write() as conn:  # aborted a second time: the request fails instead of looping forever
        run2 = _running_run(conn)
        scheduling.take_lease(conn, "silver.orders", "dead", 60)
        scheduling.bind_lease(conn, "silver.orders", "dead", run2)
        scheduling.claim_request(conn, request_id, "dead", run2)
        scheduling.expire_leases(conn)
    with db.write() as conn:
        assert scheduling.repair_expired(conn) == [run2]
    with db.read() as conn:
        assert scheduling.request(conn, request_id).status == "failed"
        assert scheduling.pending_requests(conn) == []


def test_a_tick_is_claimed_once(store_url: str) -> None:
    with db.write() as conn:
        assert scheduling.claim_schedule(conn, "silver.orders", DUE, "a")
    with db.write() as conn:
        assert not scheduling.claim_schedule(conn, "silver.orders", DUE, "b")
        assert scheduling.claim_schedule(conn, "silver.orders", DUE + timedelta(minutes=1), "b")
    with db.read() as conn:
        assert scheduling.last_due_times(conn) == {"silver.orders": DUE + timedelta(minutes=1)}


def test_the_request_queue_is_oldest_first_and_finishes(store_url: str) -> None:
    with db.write() as conn:
        first = scheduling.enqueue_request(conn, "silver.orders", rule_name="orders_id_not_null", requested_by="ann", origin="console")
        second = scheduling.enqueue_request(conn, "gold.sales", rule_name=None, requested_by="bob", origin="cli")
    with db.write() as conn:
        queue = scheduling.pending_requests(conn)
        assert [(r.id, r.rule_name) for r in queue] == [(first, "orders_id_not_null"), (second, None)]
        scheduling.claim_request(conn, first, "a", _running_run(conn))
    with db.write() as conn:
        scheduling.finish_request(conn, first, failed=False)
    with db.read() as conn:
        assert scheduling.request(conn, first).status == "done"
        numbers = scheduling.health_numbers(conn)
    assert numbers.pending_run_requests == 1
    assert 0 <= numbers.oldest_pending_age_seconds < 5


def test_a_second_scheduler_on_sqlite_is_refused_with_the_live_ones_name(sqlite_store: str) -> None:
    with db.write() as conn:
        scheduling.register_scheduler(conn, "one", host="h", pid=1, timezone="UTC", stale_seconds=30,
                                      single_active=True, alive=_always_alive)
    with pytest.raises(LeaseHeld, match=r"scheduler 'one' \(pid 1 on h.*Hint: stop that one first"), db.write() as conn:
        scheduling.register_scheduler(conn, "two", host="h", pid=2, timezone="UTC", stale_seconds=30,
                                      single_active=True, alive=_always_alive)


def test_a_killed_scheduler_does_not_block_the_next_one(sqlite_store: str) -> None:
    with db.write() as conn:
        scheduling.register_scheduler(conn, "one", host="h", pid=1, timezone="UTC", stale_seconds=30,
                                      single_active=True, alive=_always_alive)
        scheduling.register_scheduler(conn, "two", host="h", pid=2, timezone="UTC", stale_seconds=30,
                                      single_active=True, alive=lambda host, pid: pid != 1)
        assert {b.scheduler_id for b in scheduling.live_schedulers(conn, 30, lambda h, p: p == 2)} == {"two"}


def test_replicas_on_postgresql_share_a_store_but_not_an_id(pg_store: str) -> None:
    with db.write() as conn:
        for pid, name in ((1, "a"), (2, "b")):
            scheduling.register_scheduler(conn, name, host="h", pid=pid, timezone="UTC", stale_seconds=30,
                                          single_active=False, alive=_always_alive)
    with pytest.raises(LeaseHeld, match="Hint: give each replica its own id"), db.write() as conn:
        scheduling.register_scheduler(conn, "a", host="h", pid=3, timezone="UTC", stale_seconds=30,
                                      single_active=False, alive=_always_alive)


def test_heartbeat_age_is_measured_by_the_database(store_url: str) -> None:
    with db.write() as conn:
        scheduling.register_scheduler(conn, "one", host="h", pid=1, timezone="Europe/Berlin", stale_seconds=30,
                                      single_active=False, alive=_always_alive)
        conn.execute(schema.scheduler_heartbeats.update().values(beat_at=scheduling.db_now(conn) - timedelta(seconds=100)))
    with db.read() as conn:
        (beat,) = scheduling.heartbeats(conn)
        assert 99 < beat.age_seconds < 110
        assert scheduling.live_schedulers(conn, 30) == []
    with db.write() as conn:
        scheduling.beat(conn, "one", current_suite="silver.orders")
    with db.read() as conn:
        (beat,) = scheduling.live_schedulers(conn, 30)
    assert (beat.current_suite, beat.timezone) == ("silver.orders", "Europe/Berlin")


def test_health_numbers_and_totals_count_finished_runs(store_url: str) -> None:
    now = clock.utcnow()
    with db.write() as conn:
        for status, ms in (("PASSED", 1000.0), ("FAILED", 3000.0), ("ERROR", 500.0)):
            conn.execute(schema.runs.insert().values(
                suite=f"s_{status}", source="wh", trigger="schedule", status=status,
                started_at=now, finished_at=now, duration_ms=ms,
            ))
        _running_run(conn)
    with db.read() as conn:
        numbers = scheduling.health_numbers(conn)
        totals = scheduling.run_totals(conn)
    assert numbers.last_successful_run.status in {"PASSED", "FAILED"}
    assert numbers.running_runs == 1
    assert [(t.status, t.runs, t.duration_seconds) for t in totals] == [
        ("ERROR", 1, 0.5), ("FAILED", 1, 3.0), ("PASSED", 1, 1.0), ("RUNNING", 1, 0.0),
    ]
