"""Scheduler bookkeeping: heartbeats, suite leases, schedule claims, the run-request queue, repair.

Every age and expiry here is measured by the store database's clock (`db_now`), never by the
host's, so two replicas on hosts whose clocks disagree still agree on who holds a lease.
On PostgreSQL rows are taken with `SELECT ... FOR UPDATE SKIP LOCKED` so replicas share the
work without waiting on each other; schedule claims are idempotent through the unique key
(suite, due_at). All functions take the caller's connection: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from store import audit, db, results, uptime
from store.errors import LeaseHeld, NotFound
from store.fencing import Lease, check_lease, check_registration, db_now
from store.schema import (
    rules,
    run_requests,
    runs,
    schedule_claims,
    scheduler_heartbeats,
    suite_leases,
    suites,
)

ACTOR = "scheduler"
LIVE_STATUSES = ("running", "stopping")
FINISHED_RUN_STATUSES = ("PASSED", "WARNED", "FAILED")  # the check ran; ERROR/ABORTED did not

# How a caller tells whether a process on this host is still alive (os.kill(pid, 0) in practice).
AliveCheck = Callable[[str, int], bool]


@dataclass(frozen=True)
class Heartbeat:
    scheduler_id: str
    host: str
    pid: int
    status: str
    started_at: datetime
    beat_at: datetime
    age_seconds: float
    current_suite: str | None
    timezone: str | None


@dataclass(frozen=True)
class RunRequest:
    id: int
    suite: str
    rule_name: str | None
    requested_by: str
    requested_at: datetime
    origin: str
    status: str


@dataclass(frozen=True)
class LastRun:
    run_id: int
    suite: str
    status: str
    finished_at: datetime
    age_seconds: float


@dataclass(frozen=True)
class HealthNumbers:
    now: datetime
    heartbeats: tuple[Heartbeat, ...]
    last_successful_run: LastRun | None
    pending_run_requests: int
    oldest_pending_age_seconds: float | None
    running_runs: int


@dataclass(frozen=True)
class RunState:
    status: str
    started_at: datetime


@dataclass(frozen=True)
class RunTotals:
    status: str
    runs: int
    duration_seconds: float


# --- the database's clock --------------------------------------------------------------------


def _insert_ignore(conn: Connection, table: sa.Table, values: dict[str, object]) -> int:
    """Insert a row unless its unique key exists; returns 1 when this call inserted it."""
    return int(db.insert_ignore(conn, table, values))


# --- heartbeats ------------------------------------------------------------------------------


def _heartbeat(row: sa.Row, now: datetime) -> Heartbeat:
    return Heartbeat(
        scheduler_id=row.scheduler_id, host=row.host, pid=row.pid, status=row.status,
        started_at=row.started_at, beat_at=row.beat_at,
        age_seconds=max(0.0, (now - row.beat_at).total_seconds()),
        current_suite=row.current_suite, timezone=row.timezone,
    )


def heartbeats(conn: Connection) -> list[Heartbeat]:
    now = db_now(conn)
    rows = conn.execute(sa.select(scheduler_heartbeats).order_by(scheduler_heartbeats.c.beat_at.desc()))
    return [_heartbeat(row, now) for row in rows]


def live_schedulers(
    conn: Connection, stale_seconds: float, alive: AliveCheck | None = None
) -> list[Heartbeat]:
    """Schedulers that beat within `stale_seconds`; `alive` rules out a killed process on this host."""
    return [
        beat for beat in heartbeats(conn)
        if beat.status in LIVE_STATUSES and beat.age_seconds <= stale_seconds
        and (alive is None or alive(beat.host, beat.pid))
    ]


def register_scheduler(
    conn: Connection, scheduler_id: str, *, host: str, pid: int, timezone: str,
    stale_seconds: float, single_active: bool, alive: AliveCheck,
) -> int:
    """Record this scheduler as running; refuse when its id, or on SQLite any scheduler, is live.

    Atomic: on PostgreSQL an advisory lock on the id (and the row's lock) serialises two starts
    at the same instant; SQLite's BEGIN IMMEDIATE does the same. Returns the registration's new
    epoch, the fencing token every later write of this scheduler carries; a start on a SQLite store
    also fences every other registration, so a paused scheduler that wakes writes nothing.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(f"dq-scheduler:{scheduler_id}"))))
    now = db_now(conn)
    _insert_ignore(conn, scheduler_heartbeats, {
        "scheduler_id": scheduler_id, "host": host, "pid": pid, "started_at": now, "beat_at": now,
        "status": "stopped", "epoch": 0,
    })
    conn.execute(sa.select(scheduler_heartbeats.c.epoch)
                 .where(scheduler_heartbeats.c.scheduler_id == scheduler_id).with_for_update())
    others = [b for b in live_schedulers(conn, stale_seconds, alive) if b.pid != pid or b.host != host]
    clash = [b for b in others if b.scheduler_id == scheduler_id or single_active]
    if clash:
        raise LeaseHeld(_clash_message(clash[0], scheduler_id, single_active))
    epoch = conn.execute(
        scheduler_heartbeats.update().where(scheduler_heartbeats.c.scheduler_id == scheduler_id)
        .values(host=host, pid=pid, started_at=now, beat_at=now, status="running", current_suite=None,
                timezone=timezone, epoch=scheduler_heartbeats.c.epoch + 1)
        .returning(scheduler_heartbeats.c.epoch)
    ).scalar_one()
    if single_active:
        conn.execute(
            scheduler_heartbeats.update()
            .where(scheduler_heartbeats.c.scheduler_id != scheduler_id,
                   scheduler_heartbeats.c.status.in_(LIVE_STATUSES))
            .values(status="superseded", epoch=scheduler_heartbeats.c.epoch + 1)
        )
    uptime.opened(conn, scheduler_id, now)
    audit.record(conn, ACTOR, "scheduler.started", "scheduler", scheduler_id, host=host, pid=pid, epoch=epoch)
    return int(epoch)


def _clash_message(live: Heartbeat, scheduler_id: str, single_active: bool) -> str:
    who = f"scheduler {live.scheduler_id!r} (pid {live.pid} on {live.host}, last heartbeat {live.age_seconds:.1f}s ago)"
    if live.scheduler_id == scheduler_id and not single_active:
        return (f"{who} is already running under the id {scheduler_id!r}. "
                "Hint: give each replica its own id with --id NAME.")
    return (f"{who} is already running against this SQLite store, and a SQLite store takes a "
            "single active scheduler. Hint: stop that one first, or use a PostgreSQL store "
            "(DQ_STORE_URL) to run replicas.")


def beat(conn: Connection, scheduler_id: str, *, status: str = "running",
         current_suite: str | None = None, epoch: int | None = None) -> None:
    """Write this scheduler's heartbeat with the database's time; FenceLost if its epoch was superseded."""
    if epoch is not None:
        check_registration(conn, scheduler_id, epoch)
    now = db_now(conn)
    conn.execute(
        scheduler_heartbeats.update()
        .where(scheduler_heartbeats.c.scheduler_id == scheduler_id)
        .values(beat_at=now, status=status, current_suite=current_suite)
    )
    uptime.extended(conn, scheduler_id, now)


# --- suite leases ----------------------------------------------------------------------------


def take_lease(conn: Connection, suite: str, holder: str, seconds: float) -> int | None:
    """Take the suite's lease for `holder` unless another holder's lease is still valid.

    Returns the lease's new generation (its fencing token), or None when it is held.
    An expired lease that still names a run belongs to a dead scheduler: that run is
    aborted and its schedule tick or request reopened before the lease changes hands.
    """
    _insert_ignore(conn, suite_leases, {"suite": suite})
    row = conn.execute(
        sa.select(suite_leases).where(suite_leases.c.suite == suite).with_for_update(skip_locked=True)
    ).first()
    if row is None:
        return None  # another replica is deciding about this suite right now
    now = db_now(conn)
    if row.holder is not None and row.expires_at is not None and row.expires_at > now:
        return None
    if row.run_id is not None:
        abandon_run(conn, row.run_id, f"its scheduler {row.holder!r} stopped renewing the lease (killed or hung)")
    generation = int(row.generation or 0) + 1
    conn.execute(
        suite_leases.update().where(suite_leases.c.suite == suite)
        .values(holder=holder, run_id=None, acquired_at=now, expires_at=now + timedelta(seconds=seconds),
                generation=generation)
    )
    return generation


def bind_lease(conn: Connection, suite: str, holder: str, run_id: int) -> None:
    """Name the run the lease protects, so a crash can be repaired from the lease alone."""
    conn.execute(
        suite_leases.update()
        .where(suite_leases.c.suite == suite, suite_leases.c.holder == holder)
        .values(run_id=run_id)
    )


def release_lease(conn: Connection, suite: str, holder: str, generation: int | None = None) -> None:
    """Free the suite's lease if `holder` (and, given, that generation) still holds it."""
    stmt = suite_leases.update().where(suite_leases.c.suite == suite, suite_leases.c.holder == holder)
    if generation is not None:
        stmt = stmt.where(suite_leases.c.generation == generation)
    conn.execute(stmt.values(holder=None, run_id=None, acquired_at=None, expires_at=None))


def renew_leases(conn: Connection, holder: str, seconds: float, held: Sequence[Lease] | None = None) -> int:
    """Push the expiry of every lease `holder` holds; returns how many it holds.

    With `held` (the leases of the runs this scheduler is running), each must still be current:
    FenceLost names the first one taken over, and nothing is renewed.
    """
    for lease in held or ():
        check_lease(conn, lease)
    result = conn.execute(
        suite_leases.update().where(suite_leases.c.holder == holder)
        .values(expires_at=db_now(conn) + timedelta(seconds=seconds))
    )
    return result.rowcount


def expire_leases(conn: Connection, holders: Sequence[str] | None = None) -> int:
    """Mark leases as expired now: those of `holders`, or all (a lone SQLite scheduler starting)."""
    stmt = suite_leases.update().where(suite_leases.c.holder.is_not(None))
    if holders is not None:
        stmt = stmt.where(suite_leases.c.holder.in_(list(holders)))
    return conn.execute(stmt.values(expires_at=db_now(conn))).rowcount


def repair_expired(conn: Connection) -> list[int]:
    """Abort the runs of expired leases and free those leases; returns the aborted run ids."""
    now = db_now(conn)
    rows = conn.execute(
        sa.select(suite_leases)
        .where(suite_leases.c.holder.is_not(None), suite_leases.c.expires_at <= now)
        .with_for_update(skip_locked=True)
    ).all()
    aborted = []
    for row in rows:
        if row.run_id is not None and abandon_run(
            conn, row.run_id, f"its scheduler {row.holder!r} stopped renewing the lease (killed or hung)"
        ):
            aborted.append(row.run_id)
        release_lease(conn, row.suite, row.holder)
    return aborted


def orphaned_runs(conn: Connection, host: str, alive: Callable[[int], bool]) -> list[tuple[int, str]]:
    """RUNNING runs whose owner process is gone (on this host) or whose deadline passed (anywhere), with why."""
    now = db_now(conn)
    rows = conn.execute(
        sa.select(runs.c.id, runs.c.owner_host, runs.c.owner_pid, runs.c.deadline_at).where(runs.c.status == "RUNNING")
    ).all()
    found = []
    for row in rows:
        if row.owner_host == host and row.owner_pid is not None and not alive(row.owner_pid):
            found.append((int(row.id), f"its process (pid {row.owner_pid} on {host}) is gone (killed or crashed)"))
        elif row.deadline_at is not None and row.deadline_at < now:
            found.append((int(row.id), f"it was still RUNNING past its deadline {row.deadline_at.isoformat()} "
                                       f"(its owner, pid {row.owner_pid} on {row.owner_host}, is lost)"))
    return found


def run_sources(conn: Connection, run_ids: Sequence[int]) -> dict[int, str]:
    """The source each of these runs read."""
    if not run_ids:
        return {}
    rows = conn.execute(sa.select(runs.c.id, runs.c.source).where(runs.c.id.in_(list(run_ids))))
    return {int(run_id): source for run_id, source in rows}


def repair_orphans(conn: Connection, host: str, alive: Callable[[int], bool]) -> list[tuple[int, str]]:
    """Mark ABORTED the runs `orphaned_runs` finds, reopening their tick or request; (run id, why).

    The CLI, the gate, the scheduler and `scheduler --once` all call this, so a run left by
    SIGKILL or a power cut is repaired by whichever process comes next.
    """
    aborted = []
    for run_id, reason in orphaned_runs(conn, host, alive):
        if abandon_run(conn, run_id, reason):
            conn.execute(suite_leases.update().where(suite_leases.c.run_id == run_id)
                         .values(holder=None, run_id=None, acquired_at=None, expires_at=None))
            aborted.append((run_id, reason))
    return aborted


def abandon_run(conn: Connection, run_id: int, reason: str) -> bool:
    """Mark a RUNNING run ABORTED and reopen what it served, so it runs again (once).

    Its schedule claim is removed (the tick becomes due again) and its run request goes
    back to the queue, unless that request was already re-queued once (then it fails).
    Returns False when the run had already finished.
    """
    state = run_state(conn, run_id)
    if state is None or state.status != "RUNNING":
        return False
    results.abort_run(conn, run_id, f"aborted: {reason}")
    conn.execute(schedule_claims.delete().where(schedule_claims.c.run_id == run_id))
    _requeue_requests(conn, run_id)
    audit.record(conn, ACTOR, "run.aborted", "run", run_id, reason=reason)
    return True


def _requeue_requests(conn: Connection, run_id: int) -> None:
    rows = conn.execute(
        sa.select(run_requests.c.id, run_requests.c.error)
        .where(run_requests.c.run_id == run_id, run_requests.c.status == "claimed")
    ).all()
    for row in rows:
        if row.error:  # already re-queued once: a request that keeps killing its scheduler stops here
            values = dict(status="failed", finished_at=db_now(conn),
                          error=f"{row.error}; run #{run_id} was aborted too, not retried again")
        else:
            values = dict(status="pending", claimed_by=None, claimed_at=None, run_id=None,
                          error=f"re-queued after run #{run_id} was aborted")
        conn.execute(run_requests.update().where(run_requests.c.id == row.id).values(**values))


def run_state(conn: Connection, run_id: int) -> RunState | None:
    row = conn.execute(sa.select(runs.c.status, runs.c.started_at).where(runs.c.id == run_id)).first()
    return None if row is None else RunState(row.status, row.started_at)


def fail_run(conn: Connection, run_id: int, error: str) -> None:
    """Close a RUNNING run as ERROR when there are no rule results to record (e.g. unknown rules)."""
    now = db_now(conn)
    state = run_state(conn, run_id)
    if state is None or state.status != "RUNNING":
        return
    conn.execute(runs.update().where(runs.c.id == run_id).values(
        status="ERROR", finished_at=now, error=error, rules_total=0,
        duration_ms=max(0.0, (now - state.started_at).total_seconds() * 1000),
    ))


# --- schedule claims -------------------------------------------------------------------------


def claim_schedule(conn: Connection, suite: str, due_at: datetime, holder: str) -> bool:
    """Claim one due tick of a suite; only one claim per (suite, due_at) can ever succeed."""
    return bool(_insert_ignore(conn, schedule_claims, {
        "suite": suite, "due_at": due_at, "claimed_by": holder, "claimed_at": db_now(conn),
    }))


def bind_claim(conn: Connection, suite: str, due_at: datetime, run_id: int) -> None:
    conn.execute(
        schedule_claims.update()
        .where(schedule_claims.c.suite == suite, schedule_claims.c.due_at == due_at)
        .values(run_id=run_id)
    )


def last_due_times(conn: Connection) -> dict[str, datetime]:
    """The newest claimed schedule tick of each suite."""
    rows = conn.execute(
        sa.select(schedule_claims.c.suite, sa.func.max(schedule_claims.c.due_at))
        .group_by(schedule_claims.c.suite)
    )
    return {suite: due for suite, due in rows}


# --- run requests ----------------------------------------------------------------------------


def _request(row: sa.Row) -> RunRequest:
    return RunRequest(id=row.id, suite=row.suite, rule_name=row.rule_name, requested_by=row.requested_by,
                      requested_at=row.requested_at, origin=row.origin, status=row.status)


@dataclass(frozen=True)
class Target:
    """What a run request may name: a suite, and whether it is enabled; a rule's suite and state."""

    suite_enabled: bool | None  # None: no such suite
    rule_suite: str | None = None
    rule_status: str | None = None
    rule_enabled: bool | None = None


def request_target(conn: Connection, suite: str, rule_name: str | None) -> Target:
    """Look up a request's suite and rule without parsing their definitions."""
    enabled = conn.execute(sa.select(suites.c.enabled).where(suites.c.name == suite)).scalar()
    if rule_name is None:
        return Target(None if enabled is None else bool(enabled))
    row = conn.execute(
        sa.select(rules.c.suite, rules.c.status, rules.c.enabled).where(rules.c.name == rule_name)
    ).first()
    return Target(
        None if enabled is None else bool(enabled),
        rule_suite=None if row is None else row.suite,
        rule_status=None if row is None else row.status,
        rule_enabled=None if row is None else bool(row.enabled),
    )


def enqueue_request(conn: Connection, suite: str, *, rule_name: str | None, requested_by: str,
                    origin: str) -> int:
    """Queue a run of a suite (or one rule of it) for the scheduler; returns the request id."""
    request_id = conn.execute(
        run_requests.insert().values(
            suite=suite, rule_name=rule_name, requested_by=requested_by, requested_at=db_now(conn),
            origin=origin, status="pending",
        ).returning(run_requests.c.id)
    ).scalar_one()
    audit.record(conn, requested_by, "run.requested", "run_request", request_id,
                 suite=suite, rule_name=rule_name, origin=origin)
    return int(request_id)


def pending_requests(conn: Connection, limit: int = 20, *, lock: bool = True,
                     exclude: Sequence[str] = ()) -> list[RunRequest]:
    """The oldest pending requests, locked for this transaction (skipping those another replica holds);
    `exclude`: suites not to look at (busy ones), so requests behind them are reached."""
    query = (sa.select(run_requests).where(run_requests.c.status == "pending")
             .order_by(run_requests.c.requested_at, run_requests.c.id).limit(limit))
    if exclude:
        query = query.where(run_requests.c.suite.not_in(list(exclude)))
    rows = conn.execute(query.with_for_update(skip_locked=True) if lock else query)
    return [_request(row) for row in rows]


def claim_request(conn: Connection, which: RunRequest | int, holder: str, run_id: int) -> list[int]:
    """Claim a request for `run_id`, with every identical pending one (same suite and rule): they
    coalesce into this one run. Returns the ids of the requests folded in besides `which`."""
    found = request(conn, which) if isinstance(which, int) else which
    if found is None:
        raise NotFound(f"run request #{which} does not exist. Hint: check the id printed by --async.")
    claimed: RunRequest = found
    now = db_now(conn)
    conn.execute(
        run_requests.update().where(run_requests.c.id == claimed.id)
        .values(status="claimed", claimed_by=holder, claimed_at=now, run_id=run_id)
    )
    same_rule = (run_requests.c.rule_name.is_(None) if claimed.rule_name is None
                 else run_requests.c.rule_name == claimed.rule_name)
    twins = [int(i) for i in conn.execute(
        sa.select(run_requests.c.id)
        .where(run_requests.c.status == "pending", run_requests.c.suite == claimed.suite, same_rule,
               run_requests.c.id != claimed.id)
        .with_for_update(skip_locked=True)
    ).scalars()]
    if twins:
        conn.execute(
            run_requests.update().where(run_requests.c.id.in_(twins))
            .values(status="claimed", claimed_by=holder, claimed_at=now, run_id=run_id)
        )
        audit.record(conn, ACTOR, "run_request.coalesced", "run_request", claimed.id, run_id=run_id, requests=twins)
    return twins


def finish_requests(conn: Connection, run_id: int, *, failed: bool, error: str | None = None) -> None:
    """Close every request served by `run_id` (a request and the identical ones coalesced into it)."""
    conn.execute(
        run_requests.update().where(run_requests.c.run_id == run_id, run_requests.c.status == "claimed")
        .values(status="failed" if failed else "done", finished_at=db_now(conn), error=error)
    )


def finish_request(conn: Connection, request_id: int, *, failed: bool, error: str | None = None) -> None:
    conn.execute(
        run_requests.update().where(run_requests.c.id == request_id)
        .values(status="failed" if failed else "done", finished_at=db_now(conn), error=error)
    )


def request(conn: Connection, request_id: int) -> RunRequest | None:
    row = conn.execute(sa.select(run_requests).where(run_requests.c.id == request_id)).first()
    return None if row is None else _request(row)


# --- health and metrics ----------------------------------------------------------------------


def health_numbers(conn: Connection) -> HealthNumbers:
    now = db_now(conn)
    last = conn.execute(
        sa.select(runs.c.id, runs.c.suite, runs.c.status, runs.c.finished_at)
        .where(runs.c.status.in_(FINISHED_RUN_STATUSES), runs.c.finished_at.is_not(None))
        .order_by(runs.c.finished_at.desc()).limit(1)
    ).first()
    pending = conn.execute(
        sa.select(sa.func.count(), sa.func.min(run_requests.c.requested_at))
        .where(run_requests.c.status == "pending")
    ).one()
    oldest = pending[1]
    running = conn.execute(sa.select(sa.func.count()).where(runs.c.status == "RUNNING")).scalar_one()
    return HealthNumbers(
        now=now,
        heartbeats=tuple(heartbeats(conn)),
        last_successful_run=None if last is None else LastRun(
            run_id=last.id, suite=last.suite, status=last.status, finished_at=last.finished_at,
            age_seconds=max(0.0, (now - last.finished_at).total_seconds()),
        ),
        pending_run_requests=int(pending[0]),
        oldest_pending_age_seconds=None if oldest is None else max(0.0, (now - oldest).total_seconds()),
        running_runs=int(running),
    )


def run_totals(conn: Connection) -> list[RunTotals]:
    """Runs and their summed duration per status, over everything the store keeps."""
    rows = conn.execute(
        sa.select(runs.c.status, sa.func.count(), sa.func.coalesce(sa.func.sum(runs.c.duration_ms), 0.0))
        .group_by(runs.c.status).order_by(runs.c.status)
    )
    return [RunTotals(status, int(count), float(ms) / 1000) for status, count, ms in rows]
