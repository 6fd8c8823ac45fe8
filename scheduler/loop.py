"""The scheduler loop: `schedule` jobs for the tick and housekeeping, children for suites, a heartbeat
thread that also renews leases, and an orderly stop on SIGTERM.

One tick: repair expired leases and runs whose owner is gone, re-read the live suites (rules
loaded while running take effect here), then fill free workers fairly (scheduler/fairness.py):
due ticks oldest-due first, then run requests, no source taking every worker, suites that keep
timing out backed off. Nothing a suite does (an exception, a dead source, a hang) can stop the
loop: each runs in a child process with a deadline, and every job is wrapped so an error is logged.
Every write carries this scheduler's registration epoch and its leases' generations; when the
store refuses one (FenceLost: we were paused and superseded) the scheduler stops writing at once.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from http.server import ThreadingHTTPServer
from types import FrameType

import schedule

import clock
import settings
from alerting.policy import current_policy
from engine.model import Suite
from ops import cron, gate, health, housekeeping, owners
from scheduler import dispatch, fairness, worker
from scheduler.errors import HealthPortUnavailable, SchedulerError
from scheduler.http import serve
from store import db, migrations, scheduling
from store.errors import FenceLost, StoreError
from store.fencing import check_registration
from store.rules import live_suites
from telemetry.counters import TIMEOUTS, EventCounter
from telemetry.logs import SUITE_TIMEOUT, event

log = logging.getLogger("scheduler")


@dataclass(frozen=True)
class Config:
    scheduler_id: str
    tick_seconds: float
    heartbeat_seconds: float
    lease_seconds: float
    timeout_seconds: float
    stop_seconds: float
    concurrency: int
    timezone: str
    health_host: str
    health_port: int
    source_concurrency: int = 0  # 0: concurrency - 1, at least 1
    backoff_max_seconds: float = 3600.0
    overdue_grace: float = 300.0

    @classmethod
    def from_settings(cls, scheduler_id: str | None = None) -> Config:
        return cls(
            scheduler_id=scheduler_id or socket.gethostname(),
            tick_seconds=settings.get("DQ_SCHEDULER_TICK_SECONDS"),
            heartbeat_seconds=settings.get("DQ_HEARTBEAT_SECONDS"),
            lease_seconds=settings.get("DQ_LEASE_SECONDS"),
            timeout_seconds=settings.get("DQ_SUITE_TIMEOUT_SECONDS"),
            stop_seconds=settings.get("DQ_SCHEDULER_STOP_SECONDS"),
            concurrency=max(1, settings.get("DQ_SCHEDULER_CONCURRENCY")),
            timezone=settings.get("DQ_TIMEZONE"),
            health_host=settings.get("DQ_HEALTH_HOST"),
            health_port=settings.get("DQ_HEALTH_PORT"),
            source_concurrency=max(0, settings.get("DQ_SOURCE_CONCURRENCY")),
            backoff_max_seconds=settings.get("DQ_TIMEOUT_BACKOFF_MAX_SECONDS"),
            overdue_grace=settings.get("DQ_OVERDUE_GRACE_SECONDS"),
        )

    @property
    def per_source(self) -> int:
        return self.source_concurrency or max(1, self.concurrency - 1)


pid_alive = owners.alive_on  # kept for callers of the old name


def _run_job(job: housekeeping.Job) -> None:
    job.run(clock.utcnow())


class Scheduler:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.id = config.scheduler_id
        self.stopping = threading.Event()
        self.hurry = threading.Event()  # a second SIGTERM: abort running suites now
        self.running: dict[int, worker.Running] = {}
        self.running_suites: dict[int, Suite] = {}
        self.suites: list[Suite] = []
        self.counters: Counter[tuple[str, str]] = EventCounter()  # also dq_scheduler_events_total
        self.http_address: tuple[str, int] = (config.health_host, config.health_port)
        self._last_errors: dict[str, str] = {}
        self._beating = threading.Event()
        self._heart = threading.Thread(target=self._heartbeat_loop, name="dq-heartbeat", daemon=True)
        self._server: ThreadingHTTPServer | None = None
        self._once = False
        self._scheduled_this_pass: set[str] = set()
        self.epoch: int | None = None  # the registration's fencing token, set by start()
        self.fenced: str | None = None  # why the store refused our writes; then we stop writing
        self.backoff = fairness.Backoff(config.timeout_seconds, config.backoff_max_seconds)
        self._jobs = threading.RLock()  # running jobs and their leases: changed by the loop, read by the heartbeat

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Register (refused if another scheduler owns this store or id), repair, beat, serve."""
        engine = db.get_engine()
        migrations.require_current(engine)
        cron.zone(self.config.timezone)  # a bad DQ_TIMEZONE stops us here, with its hint
        _validate_config()
        single = db.is_sqlite(engine)
        self._server = self._serve()
        try:
            self._register(single)
        except BaseException:
            self._server.shutdown()
            self._server.server_close()
            raise
        self._repair()
        worker.warm_up()
        self._heart.start()
        log.info("scheduler %r started (pid %s, store %s, time zone %s); health on http://%s:%s/api/v1/dq/health/",
                 self.id, os.getpid(), engine.url.render_as_string(hide_password=True), self.config.timezone,
                 *self.http_address)

    def _register(self, single: bool) -> None:
        with db.write() as conn:
            self.epoch = scheduling.register_scheduler(
                conn, self.id, host=socket.gethostname(), pid=os.getpid(), timezone=self.config.timezone,
                stale_seconds=health.stale_after_seconds(), single_active=single, alive=owners.alive_on,
            )
            # Leases left by this id's previous life, or on SQLite by anyone, belong to dead processes.
            scheduling.expire_leases(conn, None if single else [self.id])

    def _serve(self) -> ThreadingHTTPServer:
        host, port = self.config.health_host, self.config.health_port
        try:
            server = serve(host, port, lambda: self.suites or None)
        except OSError as exc:
            raise HealthPortUnavailable(
                f"the health endpoint cannot listen on {host}:{port}: {exc.strerror or exc}. "
                "Hint: another scheduler may use that port; give each replica its own DQ_HEALTH_PORT."
            ) from exc
        self.http_address = (str(server.server_address[0]), int(server.server_address[1]))
        return server

    def run_forever(self) -> None:
        self._install_signal_handlers()
        self.start()
        jobs = schedule.Scheduler()
        # `schedule` is typed for int intervals but takes fractions of a second (tests use 0.2 s).
        jobs.every(self.config.tick_seconds).seconds.do(self._safe, "tick", self.tick)  # type: ignore[arg-type]
        for job in housekeeping.jobs():
            jobs.every(job.every_seconds).seconds.do(self._safe, job.name, partial(_run_job, job))  # type: ignore[arg-type]
        self._safe("tick", self.tick)  # a missed schedule runs now, not at the first tick
        pause = min(0.1, self.config.tick_seconds)
        while not self.stopping.is_set():
            jobs.run_pending()
            self._safe("poll", self.poll)
            self.stopping.wait(pause)
        self.shutdown()

    def run_once(self) -> None:
        """One pass: everything due and every pending request, then housekeeping; then exit."""
        self._install_signal_handlers()
        self.start()
        self._once = True
        while not self.stopping.is_set():
            started = self.counters.total()
            self._safe("tick", self.tick)
            while self.running and not self.stopping.is_set():
                self._safe("poll", self.poll)
                self.stopping.wait(0.05)
            if self.counters.total() == started:
                break
        for job in housekeeping.jobs():
            self._safe(job.name, partial(_run_job, job))
        self.shutdown()

    def shutdown(self) -> None:
        """Let running suites finish for up to DQ_SCHEDULER_STOP_SECONDS, abort the rest, say stopped."""
        self.stopping.set()
        if self.fenced is not None:
            self._stop_fenced()
            return
        deadline = time.monotonic() + self.config.stop_seconds
        if self.running:
            log.info("stopping: waiting up to %gs for %d running suite(s)", self.config.stop_seconds, len(self.running))
        while self.running and time.monotonic() < deadline and not self.hurry.is_set():
            self._safe("poll", self.poll)
            time.sleep(0.05)
        for run_id, running in list(self.running.items()):
            running.stop()
            self._cancel_reads(run_id)
            with self._jobs:
                self._safe("abort", partial(dispatch.abandon, running.job, self._holder(),
                                            "the scheduler was stopped before the suite finished; it runs again on the next start"))
                log.warning("aborted %s: the scheduler is stopping", running.job.describe())
                self._forget(run_id)
        self._beating.set()
        if self._heart.is_alive():
            self._heart.join(10)  # its last "stopping" beat must not land after our "stopped"
        self._safe("heartbeat", lambda: self._beat("stopped"))
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        log.info("scheduler %r stopped", self.id)

    def _stop_fenced(self) -> None:
        """Superseded: kill our children and write nothing; whoever holds the store now repairs."""
        for run_id, running in list(self.running.items()):
            running.stop()
            self._cancel_reads(run_id)
            self._forget(run_id)
        self._beating.set()
        if self._heart.is_alive() and threading.current_thread() is not self._heart:
            self._heart.join(10)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        log.error("scheduler %r stopped without writing: %s", self.id, self.fenced)

    def _fence(self, exc: FenceLost) -> None:
        if self.fenced is None:
            self.fenced = str(exc)
            log.error("the store refused a write of scheduler %r: %s", self.id, exc)
        self.hurry.set()
        self.stopping.set()

    def _install_signal_handlers(self) -> None:
        def on_signal(signum: int, _frame: FrameType | None) -> None:
            if self.stopping.is_set():
                self.hurry.set()
                return
            log.info("received %s: finishing running suites (up to %gs), then exiting",
                     signal.Signals(signum).name, self.config.stop_seconds)
            self.stopping.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)

    # --- one tick ----------------------------------------------------------------------------

    def tick(self) -> None:
        if self.stopping.is_set():
            return
        self._repair()
        self._refresh_suites()
        if self._free():
            self._fill()

    def _holder(self) -> dispatch.Holder:
        return dispatch.Holder(self.id, self.config.lease_seconds, self.epoch, self.config.timeout_seconds)

    def _refresh_suites(self) -> None:
        """Re-read the live rules; if they cannot be read, keep scheduling the last good ones."""
        try:
            self.suites = live_suites()
        except Exception as exc:  # noqa: BLE001 - a broken definition must not stop every other suite
            self._note_error("rules", f"the live rules cannot be read, using the last good ones: {exc}")
            return
        self._last_errors.pop("rules", None)

    def _fill(self) -> None:
        """Fill free workers: due ticks oldest-due first, then run requests; fair across sources.

        A request that has waited half the overdue grace goes before the due ticks (one per tick),
        so a stream of due work can delay requests but never starve them.
        """
        with db.read() as conn:
            now = scheduling.db_now(conn)
            last_due = scheduling.last_due_times(conn)
            pending = scheduling.pending_requests(conn, limit=200, lock=False)
        requested = {r.suite for r in pending}
        starving = bool(pending) and (now - pending[0].requested_at).total_seconds() > self.config.overdue_grace / 2
        due = []
        for suite in self.suites:
            if suite.name in self._busy() or suite.name in self._scheduled_this_pass:
                continue
            try:
                work = cron.due_work(suite, now, self.config.timezone, last_due.get(suite.name))
            except cron.CronError as exc:
                self._note_error(f"cron:{suite.name}", f"suite {suite.name!r} cannot be scheduled: {exc}")
                continue
            if work is not None and self.backoff.allows(suite.name):
                due.append((suite, work))
        by_name = {s.name: s for s in self.suites}
        waiting = Counter(s.source for s, _ in due)
        waiting.update(by_name[n].source for n in requested if n in by_name and n not in self._busy())
        sources = fairness.Sources(self.config.per_source, self._running_sources(), waiting)
        if starving:
            self._claim_requests(sources, limit=1)
        for suite, work in fairness.order(due, self.backoff):
            if not self._free() or self.stopping.is_set():
                return
            if not sources.may_start(suite.source):
                continue
            job = dispatch.claim_due(work, suite, self._holder())
            if job is not None:
                self._launch(job, suite)
                sources.started(suite.source)
                if self._once:  # --once runs each suite's due tick once, not every tick until it exits
                    self._scheduled_this_pass.add(suite.name)
        self._claim_requests(sources)

    def _claim_requests(self, sources: fairness.Sources, limit: int | None = None) -> None:
        claimed = 0
        while self._free() and not self.stopping.is_set() and (limit is None or claimed < limit):
            job = dispatch.claim_request(self.suites, self._holder(), busy=self._busy(),
                                         allowed=lambda s: sources.may_start(s.source))
            if job is None:
                return
            self._launch(job, self._suite(job.suite))
            sources.started(self._suite(job.suite).source)
            claimed += 1

    def _running_sources(self) -> Counter[str]:
        return Counter(suite.source for suite in self.running_suites.values())

    def _launch(self, job: worker.SuiteJob, suite: Suite) -> None:
        try:
            running = worker.start(job, self.config.timeout_seconds, os.getpid())
        except Exception as exc:  # noqa: BLE001 - e.g. out of processes; the run must not stay RUNNING
            if self.stopping.is_set():  # the forkserver got the group's SIGTERM: run it next start
                dispatch.abandon(job, self.id, "the scheduler was stopping before the suite could start")
            else:
                dispatch.finish(job, suite, self.id, f"the check process could not start: {exc}")
            raise
        with self._jobs:
            self.running[job.run_id] = running
        self.running_suites[job.run_id] = suite
        self.counters[("started", job.trigger)] += 1

    def poll(self) -> None:
        """Close finished children and stop those past their deadline."""
        now = time.monotonic()
        for run_id, running in list(self.running.items()):
            if running.finished:
                error = running.error()
                with self._jobs:  # the heartbeat must not check a lease we are releasing
                    if error is not None and self.stopping.is_set():
                        # Killed along with us (systemd signals the whole group): run it again next start.
                        dispatch.abandon(running.job, self._holder(), f"the scheduler was stopping and {error}")
                    else:
                        dispatch.finish(running.job, self.running_suites[run_id], self._holder(), error)
                        self._log_end(running, error)
                        self._note_outcome(running.job, timed_out=running.ran_out_of_time)
                    self._forget(run_id)
            elif running.timed_out(now):
                running.stop()
                self._cancel_reads(run_id)
                error = dispatch.timed_out_message(self.config.timeout_seconds)
                with self._jobs:
                    dispatch.finish(running.job, self.running_suites[run_id], self._holder(), error)
                    self._forget(run_id)
                self.counters[("timeout", running.job.suite)] += 1
                TIMEOUTS.labels(running.job.suite).inc()
                event(log, logging.ERROR, SUITE_TIMEOUT, running.job.suite, run_id=running.job.run_id,
                      timeout_s=self.config.timeout_seconds, error=error)
                self._note_outcome(running.job, timed_out=True)

    def _cancel_reads(self, run_id: int) -> None:
        """A killed child leaves its backend running (waiting on a lock, say): end it in the source."""
        suite = self.running_suites.get(run_id)
        if suite is not None:
            owners.cancel_reads(suite.source, f"dq-run-{run_id}")

    def _note_outcome(self, job: worker.SuiteJob, *, timed_out: bool) -> None:
        if not timed_out:
            self.backoff.clear(job.suite)
            return
        seconds = self.backoff.strike(job.suite)
        log.warning("suite %r timed out %d time(s) in a row: its ticks are skipped for %.0fs so that it "
                    "holds no worker others need", job.suite, self.backoff.strikes(job.suite), seconds)

    def _log_end(self, running: worker.Running, error: str | None) -> None:
        seconds = time.monotonic() - running.started
        if error is None:
            self.counters[("finished", running.job.trigger)] += 1
            log.info("finished %s in %.1fs", running.job.describe(), seconds)
        else:
            self.counters[("error", running.job.trigger)] += 1
            log.error("%s ended in error after %.1fs: %s", running.job.describe(), seconds, error)

    def _forget(self, run_id: int) -> None:
        running = self.running.pop(run_id)
        self.running_suites.pop(run_id, None)
        running.close()

    # --- helpers -----------------------------------------------------------------------------

    def _repair(self) -> None:
        with db.write() as conn:
            if self.epoch is not None:
                check_registration(conn, self.id, self.epoch)
            aborted = scheduling.repair_expired(conn)
        for run_id in aborted:
            self.counters[("repaired", "aborted")] += 1
            log.warning("run #%s was left RUNNING by a scheduler that stopped renewing its lease: "
                        "marked ABORTED; it runs again", run_id)
        for run_id in owners.repair_orphans():
            self.counters[("repaired", "orphan")] += 1
            log.warning("run #%s was left RUNNING by a process that is gone: marked ABORTED", run_id)

    def _free(self) -> bool:
        return len(self.running) < self.config.concurrency

    def _busy(self) -> set[str]:
        return {r.job.suite for r in self.running.values()}

    def _suite(self, name: str) -> Suite:
        return next(s for s in self.suites if s.name == name)

    def _heartbeat_loop(self) -> None:
        while not self._beating.wait(self.config.heartbeat_seconds):
            self._safe("heartbeat", lambda: self._beat("stopping" if self.stopping.is_set() else "running"))

    def _beat(self, status: str) -> None:
        with self._jobs, db.write() as conn:
            current = ", ".join(sorted(self._busy()))[:200] or None
            held = [lease for r in self.running.values() if (lease := r.job.lease()) is not None]
            # Fencing first: a scheduler that was paused and superseded writes not even its heartbeat.
            if self.epoch is not None:
                check_registration(conn, self.id, self.epoch)
            if status != "stopped":
                scheduling.renew_leases(conn, self.id, self.config.lease_seconds, held)
            scheduling.beat(conn, self.id, status=status, current_suite=current, epoch=self.epoch)

    def _safe(self, name: str, fn: Callable[[], object]) -> None:
        """Run one job; log its error once (until it changes or recovers) and carry on."""
        try:
            if self.fenced is not None:
                return
            if self.epoch is not None and name not in ("tick", "poll", "heartbeat", "abort"):
                with db.read() as conn:  # housekeeping writes too: only while our registration holds
                    check_registration(conn, self.id, self.epoch)
            fn()
        except FenceLost as exc:
            self._fence(exc)
            return
        except Exception as exc:  # noqa: BLE001 - the loop outlives any one failure
            self._note_error(name, f"{name} failed: {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}", exc)
            return
        if self._last_errors.pop(name, None) is not None:
            log.info("%s recovered", name)

    def _note_error(self, key: str, message: str, exc: BaseException | None = None) -> None:
        if self._last_errors.get(key) == message:
            return
        self._last_errors[key] = message
        self.counters[("loop_error", key.split(":")[0])] += 1
        log.error(message, exc_info=exc if exc is not None and log.isEnabledFor(logging.DEBUG) else None)


def _validate_config() -> None:
    """A broken dq.yaml or approval matrix stops the start, naming file and key; alerting.yaml only logs."""
    try:
        gate.validate_startup()
    except (gate.GateConfigError, StoreError) as exc:
        raise SchedulerError(f"configuration: {exc}") from exc
    current_policy()  # logs what is wrong in alerting.yaml and falls back to the runbook's policy
