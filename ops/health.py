"""The health of the DQ system as one document: the CLI's `health`, the scheduler's HTTP endpoint
and the console all show this.

Healthy means: the store answers and is migrated, a scheduler wrote a heartbeat recently (by the
database's clock), no scheduled suite is overdue, and no run request has waited too long.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import clock
import settings
from engine.model import Suite
from ops import cron
from store import db, migrations, scheduling
from store.rules import live_suites


def stale_after_seconds() -> float:
    """A heartbeat older than this means its scheduler is gone (three missed beats, plus slack)."""
    return 3 * float(settings.get("DQ_HEARTBEAT_SECONDS")) + 5


@dataclass(frozen=True)
class SchedulerState:
    scheduler_id: str
    host: str
    pid: int
    status: str
    heartbeat_age_seconds: float
    live: bool
    current_suite: str | None
    timezone: str | None


@dataclass(frozen=True)
class LastRun:
    run_id: int
    suite: str
    status: str
    finished_at: str
    age_seconds: float


@dataclass(frozen=True)
class Overdue:
    suite: str
    due_at: str
    late_seconds: float
    rules: list[str] | None  # None = the whole suite


@dataclass(frozen=True)
class Health:
    healthy: bool
    checked_at: str
    store: str  # URL without password
    store_reachable: bool
    timezone: str
    scheduler_heartbeat_age_seconds: float | None  # the freshest live-looking scheduler
    schedulers: list[SchedulerState] = field(default_factory=list)
    last_successful_run: LastRun | None = None
    pending_run_requests: int = 0
    oldest_pending_request_age_seconds: float | None = None
    running_runs: int = 0
    overdue_suites: list[Overdue] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check(suites: list[Suite] | None = None) -> Health:
    """Measure the health now; never raises for an unreachable or unmigrated store.

    `suites`: the live suites if the caller has them parsed already (the scheduler), else read here.
    """
    engine = db.get_engine()
    store = engine.url.render_as_string(hide_password=True)
    timezone = str(settings.get("DQ_TIMEZONE"))
    try:
        with db.read(engine) as conn:  # StoreUnreachable, with its hint, before anything else
            scheduling.db_now(conn)
        migrations.require_current(engine)
        with db.read(engine) as conn:
            numbers = scheduling.health_numbers(conn)
            last_due = scheduling.last_due_times(conn)
    except Exception as exc:  # noqa: BLE001 - whatever stops us reading the store is the finding
        return Health(healthy=False, checked_at=clock.utcnow().isoformat(), store=store,
                      store_reachable=False, timezone=timezone, scheduler_heartbeat_age_seconds=None,
                      problems=[_first_line(exc)])
    try:
        suites = live_suites(engine) if suites is None else suites
    except Exception as exc:  # noqa: BLE001 - unreadable rules are reported, not raised
        health = _assess(numbers, [], last_due, store, timezone)
        return replace(health, healthy=False, problems=[*health.problems, f"the live rules cannot be read: {_first_line(exc)}"])
    return _assess(numbers, suites, last_due, store, timezone)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _assess(numbers: scheduling.HealthNumbers, suites: list[Suite], last_due: dict[str, datetime],
            store: str, timezone: str) -> Health:
    stale = stale_after_seconds()
    grace = float(settings.get("DQ_OVERDUE_GRACE_SECONDS"))
    states = [_state(beat, stale) for beat in numbers.heartbeats]
    live = [s for s in states if s.live]
    freshest = min((s.heartbeat_age_seconds for s in live), default=None)
    overdue = [_overdue(w, numbers.now) for w in cron.overdue(suites, numbers.now, timezone, last_due, timedelta(seconds=grace))]
    problems = _problems(states, live, overdue, numbers, grace, stale)
    last = numbers.last_successful_run
    return Health(
        healthy=not problems, checked_at=numbers.now.isoformat(), store=store, store_reachable=True,
        timezone=timezone, scheduler_heartbeat_age_seconds=None if freshest is None else round(freshest, 3),
        schedulers=states,
        last_successful_run=None if last is None else LastRun(
            last.run_id, last.suite, last.status, last.finished_at.isoformat(), round(last.age_seconds, 3)),
        pending_run_requests=numbers.pending_run_requests,
        oldest_pending_request_age_seconds=None if numbers.oldest_pending_age_seconds is None
        else round(numbers.oldest_pending_age_seconds, 3),
        running_runs=numbers.running_runs, overdue_suites=overdue, problems=problems,
    )


def _state(beat: scheduling.Heartbeat, stale: float) -> SchedulerState:
    return SchedulerState(
        scheduler_id=beat.scheduler_id, host=beat.host, pid=beat.pid, status=beat.status,
        heartbeat_age_seconds=round(beat.age_seconds, 3),
        live=beat.status in scheduling.LIVE_STATUSES and beat.age_seconds <= stale,
        current_suite=beat.current_suite, timezone=beat.timezone,
    )


def _overdue(work: cron.DueWork, now: datetime) -> Overdue:
    return Overdue(suite=work.suite, due_at=work.due_at.isoformat(),
                   late_seconds=round((now - work.due_at).total_seconds(), 3),
                   rules=list(work.rule_names) if work.rule_names else None)


def _problems(states: list[SchedulerState], live: list[SchedulerState], overdue: list[Overdue],
              numbers: scheduling.HealthNumbers, grace: float, stale: float) -> list[str]:
    problems = []
    if not live:
        seen = ", ".join(f"{s.scheduler_id} ({s.status}, {s.heartbeat_age_seconds:.0f}s ago)" for s in states)
        problems.append(
            f"no scheduler heartbeat in the last {stale:g}s"
            + (f" (last seen: {seen})" if seen else " (no scheduler has ever run against this store)")
            + ". Hint: start it with `python manage.py scheduler` or `systemctl restart dq-scheduler`."
        )
    for late in overdue:
        problems.append(f"suite {late.suite!r} is overdue: its run due {late.due_at} has not started "
                        f"after {late.late_seconds:.0f}s. Hint: check the scheduler log and the suite's lease.")
    waited = numbers.oldest_pending_age_seconds
    if waited is not None and waited > grace:
        problems.append(f"{numbers.pending_run_requests} run request(s) pending, the oldest for {waited:.0f}s. "
                        "Hint: check that a scheduler is running and not stuck on a long suite.")
    return problems
