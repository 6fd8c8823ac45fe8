"""Fencing tokens, run owners and request coalescing in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from engine.model import Layer, Suite
from engine.results import SuiteReport
from store import db, results, scheduling, schema
from store.errors import FenceLost, LeaseHeld
from store.fencing import Lease, check_lease

DUE = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
HOST = socket.gethostname()
SUITE = Suite(name="silver.orders", source="wh", table="orders", schema=None, layer=Layer.SILVER,
              data_classes=(), pii_columns=(), rules=())


def _register(conn: sa.Connection, name: str, pid: int, single: bool = False) -> int:
    return scheduling.register_scheduler(conn, name, host="h", pid=pid, timezone="UTC", stale_seconds=30,
                                         single_active=single, alive=lambda host, pid: True)


def _run(conn: sa.Connection, **values: object) -> int:
    return results.start_run(conn, "silver.orders", "wh", "manual", **values)  # type: ignore[arg-type]


def _row(run_id: int) -> dict:
    with db.read() as conn:
        return dict(conn.execute(sa.select(schema.runs).where(schema.runs.c.id == run_id)).mappings().one())


def _empty_report() -> SuiteReport:
    now = datetime.now(UTC)
    return SuiteReport("silver.orders", "wh", now, now, ())


def test_each_take_of_a_lease_is_a_new_generation_and_old_ones_are_refused(store_url: str) -> None:
    with db.write() as conn:
        first = scheduling.take_lease(conn, "silver.orders", "a", 60)
        run_id = _run(conn)
        scheduling.bind_lease(conn, "silver.orders", "a", run_id)
        scheduling.expire_leases(conn, ["a"])
    with db.write() as conn:
        second = scheduling.take_lease(conn, "silver.orders", "a", 60)  # the same name, restarted
    assert (first, second) == (1, 2)
    with db.write() as conn, pytest.raises(FenceLost, match=r"generation 1.*passed to 'a' \(generation 2\).*Hint:"):
        check_lease(conn, Lease("silver.orders", "a", 1))
    # The late finish of the first holder's child is refused and writes nothing.
    with db.write() as conn:
        late = _run(conn)
    with pytest.raises(FenceLost), db.write() as conn:
        results.finish_run(conn, late, _empty_report(), SUITE, lease=Lease("silver.orders", "a", 1))
    assert _row(late)["status"] == "RUNNING"
    with db.write() as conn:
        results.finish_run(conn, late, _empty_report(), SUITE, lease=Lease("silver.orders", "a", 2))
    assert _row(late)["status"] != "RUNNING"


def test_a_release_with_an_old_generation_frees_nothing(store_url: str) -> None:
    with db.write() as conn:
        scheduling.take_lease(conn, "silver.orders", "a", 60)
        scheduling.expire_leases(conn, ["a"])
        current = scheduling.take_lease(conn, "silver.orders", "a", 60)
        scheduling.release_lease(conn, "silver.orders", "a", generation=1)
        assert scheduling.take_lease(conn, "silver.orders", "b", 60) is None  # still held by generation 2
        assert current == 2


def test_renewing_refuses_when_a_running_lease_was_taken_over(store_url: str) -> None:
    with db.write() as conn:
        mine = scheduling.take_lease(conn, "silver.orders", "a", 60)
        scheduling.expire_leases(conn, ["a"])
        scheduling.take_lease(conn, "silver.orders", "b", 60)
    assert mine is not None
    with pytest.raises(FenceLost, match="no longer held"), db.write() as conn:
        scheduling.renew_leases(conn, "a", 60, [Lease("silver.orders", "a", mine)])


def test_a_new_registration_fences_the_old_one_of_the_same_id(store_url: str) -> None:
    with db.write() as conn:
        old = _register(conn, "twin", pid=1)
        conn.execute(schema.scheduler_heartbeats.update().values(beat_at=datetime(2020, 1, 1, tzinfo=UTC)))  # it stopped beating
    with db.write() as conn:
        new = _register(conn, "twin", pid=2)
    assert new == old + 1
    with pytest.raises(FenceLost, match=r"'twin' \(registration 1\) was superseded.*Hint:"), db.write() as conn:
        scheduling.beat(conn, "twin", epoch=old)
    with db.write() as conn:
        scheduling.beat(conn, "twin", epoch=new)


def test_a_start_on_sqlite_fences_every_other_scheduler(sqlite_store: str) -> None:
    with db.write() as conn:
        paused = _register(conn, "a", pid=1, single=True)
        conn.execute(schema.scheduler_heartbeats.update().values(beat_at=datetime(2020, 1, 1, tzinfo=UTC)))
    with db.write() as conn:
        _register(conn, "b", pid=2, single=True)
    with pytest.raises(FenceLost, match="superseded"), db.write() as conn:
        scheduling.beat(conn, "a", epoch=paused)
    with db.read() as conn:
        states = {h.scheduler_id: h.status for h in scheduling.heartbeats(conn)}
    assert states == {"a": "superseded", "b": "running"}


def test_two_registrations_of_one_id_at_the_same_instant_admit_one(pg_store: str) -> None:
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def start(pid: int) -> None:
        barrier.wait()
        try:
            with db.write() as conn:
                _register(conn, "twin", pid=pid)
            outcomes.append("registered")
        except LeaseHeld:
            outcomes.append("refused")

    threads = [threading.Thread(target=start, args=(100 + n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused"] * 7 + ["registered"]


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_a_run_whose_process_is_gone_is_aborted_by_the_next_one(store_url: str) -> None:
    with db.write() as conn:
        mine = _run(conn, timeout_seconds=300)
        orphan = _run(conn, timeout_seconds=300)
        elsewhere = _run(conn, timeout_seconds=300)
        late = _run(conn, timeout_seconds=300)
        conn.execute(schema.runs.update().where(schema.runs.c.id == orphan).values(owner_pid=_dead_pid()))
        conn.execute(schema.runs.update().where(schema.runs.c.id == elsewhere).values(owner_host="other-host", owner_pid=1))
        conn.execute(schema.runs.update().where(schema.runs.c.id == late).values(
            owner_host="other-host", deadline_at=datetime.now(UTC) - timedelta(seconds=5)))
    assert (_row(mine)["owner_host"], _row(mine)["owner_pid"]) == (HOST, os.getpid())
    assert _row(mine)["deadline_at"] > datetime.now(UTC) + timedelta(seconds=300)
    from ops.owners import pid_alive

    with db.write() as conn:
        aborted = scheduling.repair_orphans(conn, HOST, pid_alive)
    assert sorted(run_id for run_id, _ in aborted) == sorted([orphan, late])
    assert [_row(r)["status"] for r in (mine, orphan, elsewhere, late)] == ["RUNNING", "ABORTED", "RUNNING", "ABORTED"]
    assert "is gone (killed or crashed)" in _row(orphan)["error"]
    assert "past its deadline" in _row(late)["error"]


def test_identical_pending_requests_coalesce_into_one_run(store_url: str) -> None:
    with db.write() as conn:
        same = [scheduling.enqueue_request(conn, "silver.orders", rule_name=None, requested_by=f"u{n}", origin="cli")
                for n in range(5)]
        other_rule = scheduling.enqueue_request(conn, "silver.orders", rule_name="r1", requested_by="ann", origin="cli")
        other_suite = scheduling.enqueue_request(conn, "gold.sales", rule_name=None, requested_by="ann", origin="cli")
        run_id = _run(conn)
        (first, *_) = scheduling.pending_requests(conn)
        twins = scheduling.claim_request(conn, first, "a", run_id)
        assert twins == same[1:]
        scheduling.finish_requests(conn, run_id, failed=False)
    with db.read() as conn:
        states = {i: scheduling.request(conn, i).status for i in [*same, other_rule, other_suite]}
        runs_of = {conn.execute(sa.select(schema.run_requests.c.run_id).where(schema.run_requests.c.id == i)).scalar()
                   for i in same}
    assert states == {**dict.fromkeys(same, "done"), other_rule: "pending", other_suite: "pending"}
    assert runs_of == {run_id}


def test_an_aborted_coalesced_run_requeues_every_request_it_served(store_url: str) -> None:
    with db.write() as conn:
        same = [scheduling.enqueue_request(conn, "silver.orders", rule_name=None, requested_by="u", origin="cli")
                for _ in range(3)]
        run_id = _run(conn)
        scheduling.claim_request(conn, same[0], "a", run_id)
        scheduling.abandon_run(conn, run_id, "test")
    with db.read() as conn:
        assert {scheduling.request(conn, i).status for i in same} == {"pending"}
