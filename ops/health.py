"""The health of the DQ system as one document: the CLI's `health`, the scheduler's HTTP endpoint
and the console all show this.

Healthy means: the store answers and is migrated, a scheduler wrote a heartbeat recently (by the
database's clock), no scheduled suite is overdue, no run request has waited too long, no enabled
HIGH or CRITICAL rule's newest result is ERROR (it could not be checked), and every enabled
scheduled suite had a complete evaluation within 2 of its scheduled periods (whether or not its
ticks were ever claimed: a suite starved by others, or one whose runs all time out, is caught).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

import clock
import settings
from engine.model import Suite
from ops import cron
from store import db, kpis, migrations, scheduling
from store import results as run_results
from store.kpis import Window
from store.rules import live_suites

# Severities whose ERROR makes the system unhealthy (every severity's ERROR is alerted).
UNHEALTHY_ERROR_SEVERITIES = ("HIGH", "CRITICAL")
STALE_AFTER_PERIODS = 2


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
class ErrorRule:
    """An enabled HIGH/CRITICAL rule whose newest result is ERROR."""

    rule: str
    suite: str
    severity: str
    reason: str
    run_id: int
    finished_at: str


@dataclass(frozen=True)
class StaleSuite:
    """An enabled scheduled suite without a complete evaluation within 2 of its scheduled periods."""

    suite: str
    last_complete_at: str | None  # None: never since it was loaded
    loaded_at: str | None
    age_seconds: float  # since the last complete evaluation (or since loading)
    period_seconds: float  # the shortest interval of its schedules, at this moment


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
    error_rules: list[ErrorRule] = field(default_factory=list)
    stale_suites: list[StaleSuite] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    kpis: list[dict[str, Any]] = field(default_factory=list)  # store.kpis over the last 24 h, as on the Health page

    def to_dict(self) -> dict[str, Any]:
        """The health JSON, with every credential masked (problems may quote a source or alert error)."""
        return settings.scrub_data(asdict(self))


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
            errored = run_results.errored_rules(conn, UNHEALTHY_ERROR_SEVERITIES)
            evaluations = run_results.suite_evaluations(conn)
    except Exception as exc:  # noqa: BLE001 - whatever stops us reading the store is the finding
        return Health(healthy=False, checked_at=clock.utcnow().isoformat(), store=store,
                      store_reachable=False, timezone=timezone, scheduler_heartbeat_age_seconds=None,
                      problems=[_first_line(exc)])
    try:
        suites = live_suites(engine) if suites is None else suites
    except Exception as exc:  # noqa: BLE001 - unreadable rules are reported, not raised
        health = _assess(numbers, [], last_due, store, timezone, errored, evaluations)
        return replace(health, healthy=False, problems=[*health.problems, f"the live rules cannot be read: {_first_line(exc)}"])
    return replace(_assess(numbers, suites, last_due, store, timezone, errored, evaluations), kpis=daily_kpis(engine))


def daily_kpis(engine: Engine) -> list[dict[str, Any]]:
    """The KPIs of the last 24 h, computed by store.kpis (the Health page and `report daily` call the same)."""
    return [asdict(k) for k in kpis.health_kpis(Window.last(24), engine)]


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _assess(numbers: scheduling.HealthNumbers, suites: list[Suite], last_due: dict[str, datetime],
            store: str, timezone: str, errored: list[run_results.ErroredRule] | None = None,
            evaluations: dict[str, run_results.SuiteEvaluation] | None = None) -> Health:
    stale = stale_after_seconds()
    grace = float(settings.get("DQ_OVERDUE_GRACE_SECONDS"))
    states = [_state(beat, stale) for beat in numbers.heartbeats]
    live = [s for s in states if s.live]
    freshest = min((s.heartbeat_age_seconds for s in live), default=None)
    overdue = [_overdue(w, numbers.now) for w in cron.overdue(suites, numbers.now, timezone, last_due, timedelta(seconds=grace))]
    error_rules = [ErrorRule(e.rule, e.suite, e.severity, e.reason, e.run_id, e.finished_at.isoformat()) for e in errored or []]
    stale_suites = stale_evaluations(suites, evaluations or {}, numbers.now, timezone, grace)
    problems = _problems(states, live, overdue, numbers, grace, stale)
    problems += [_error_problem(e) for e in error_rules] + [_stale_problem(s) for s in stale_suites]
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
        running_runs=numbers.running_runs, overdue_suites=overdue, error_rules=error_rules,
        stale_suites=stale_suites, problems=problems,
    )


def schedule_period(suite: Suite, now: datetime, default_tz: str) -> timedelta | None:
    """The shortest interval between the last two ticks of the suite's schedules (None: unscheduled)."""
    tz = cron.suite_timezone(suite, default_tz)
    periods = []
    for expr in cron.scheduled_rules(suite):
        latest = cron.latest_tick(expr, tz, now)
        periods.append(latest - cron.latest_tick(expr, tz, latest - timedelta(microseconds=1)))
    return min(periods, default=None)


def stale_evaluations(suites: list[Suite], evaluations: dict[str, run_results.SuiteEvaluation], now: datetime,
                      default_tz: str, grace: float) -> list[StaleSuite]:
    """Enabled scheduled suites whose newest complete run (or their loading) is older than 2 periods + grace."""
    found = []
    for suite in suites:
        seen = evaluations.get(suite.name)
        try:
            period = schedule_period(suite, now, default_tz)
        except cron.CronError:
            continue  # reported by the scheduler's log and the manifest validation
        since = None if seen is None else seen.last_complete_at or seen.loaded_at
        if period is None or seen is None or since is None:
            continue
        age = (now - since).total_seconds()
        if age > STALE_AFTER_PERIODS * period.total_seconds() + grace:
            found.append(StaleSuite(
                suite.name, None if seen.last_complete_at is None else seen.last_complete_at.isoformat(),
                None if seen.loaded_at is None else seen.loaded_at.isoformat(), round(age, 3), period.total_seconds(),
            ))
    return found


def _error_problem(e: ErrorRule) -> str:
    return (f"rule {e.rule!r} ({e.severity}, suite {e.suite}) could not run: {_one_line(e.reason)} "
            f"(newest result ERROR, run #{e.run_id} at {e.finished_at}). Hint: fix what the error names, then "
            f"re-run it with `python manage.py run_dq_checks --rule-name {e.rule}`.")


def _stale_problem(s: StaleSuite) -> str:
    since = f"{s.last_complete_at}" if s.last_complete_at else f"it was loaded at {s.loaded_at}"
    return (f"suite {s.suite!r} has had no complete evaluation since {since} ({s.age_seconds:.0f}s), more than "
            f"{STALE_AFTER_PERIODS} of its scheduled periods ({s.period_seconds:g}s). Hint: look for its timed-out, "
            "ABORTED or all-ERROR runs on the Runs page and in the scheduler log, and check its source; run it by hand "
            f"with `python manage.py run_dq_checks --suite {s.suite}`.")


def _one_line(text: str) -> str:
    return " ".join(text.split())


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
