"""The scheduler loop: `schedule` jobs for the tick and housekeeping, children for suites, a heartbeat
thread that also renews leases, and an orderly stop on SIGTERM.

One tick: repair expired leases, re-read the live suites (rules loaded while running take effect
here), claim pending run requests, then claim due schedule ticks, up to DQ_SCHEDULER_CONCURRENCY
suites at once. Nothing a suite does (an exception, a dead source, a hang) can stop the loop:
each runs in a child process with a deadline, and every job is wrapped so an error is logged.
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
from ops import cron, gate, health, housekeeping
from scheduler import dispatch, worker
from scheduler.errors import HealthPortUnavailable, SchedulerError
from scheduler.http import serve
from store import db, migrations, scheduling
from store.errors import StoreError
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
        )


def pid_alive(host: str, pid: int) -> bool:
    """Whether a process recorded in a heartbeat still exists; other hosts are assumed alive."""
    if host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
            scheduling.register_scheduler(
                conn, self.id, host=socket.gethostname(), pid=os.getpid(), timezone=self.config.timezone,
                stale_seconds=health.stale_after_seconds(), single_active=single, alive=pid_alive,
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
        deadline = time.monotonic() + self.config.stop_seconds
        if self.running:
            log.info("stopping: waiting up to %gs for %d running suite(s)", self.config.stop_seconds, len(self.running))
        while self.running and time.monotonic() < deadline and not self.hurry.is_set():
            self._safe("poll", self.poll)
            time.sleep(0.05)
        for run_id, running in list(self.running.items()):
            running.stop()
            self._safe("abort", partial(dispatch.abandon, running.job, self.id,
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
        while self._free() and not self.stopping.is_set():
            job = dispatch.claim_request(self.suites, self.id, self.config.lease_seconds, self._busy())
            if job is None:
                break
            self._launch(job, self._suite(job.suite))
        if self._free():
            self._run_due()

    def _refresh_suites(self) -> None:
        """Re-read the live rules; if they cannot be read, keep scheduling the last good ones."""
        try:
            self.suites = live_suites()
        except Exception as exc:  # noqa: BLE001 - a broken definition must not stop every other suite
            self._note_error("rules", f"the live rules cannot be read, using the last good ones: {exc}")
            return
        self._last_errors.pop("rules", None)

    def _run_due(self) -> None:
        with db.read() as conn:
            now = scheduling.db_now(conn)
            last_due = scheduling.last_due_times(conn)
        for suite in self.suites:
            if not self._free() or self.stopping.is_set():
                return
            if suite.name in self._busy() or suite.name in self._scheduled_this_pass:
                continue
            try:
                work = cron.due_work(suite, now, self.config.timezone, last_due.get(suite.name))
            except cron.CronError as exc:
                self._note_error(f"cron:{suite.name}", f"suite {suite.name!r} cannot be scheduled: {exc}")
                continue
            if work is None:
                continue
            job = dispatch.claim_due(work, suite, self.id, self.config.lease_seconds)
            if job is not None:
                self._launch(job, suite)
                if self._once:  # --once runs each suite's due tick once, not every tick until it exits
                    self._scheduled_this_pass.add(suite.name)

    def _launch(self, job: worker.SuiteJob, suite: Suite) -> None:
        try:
            running = worker.start(job, self.config.timeout_seconds, os.getpid())
        except Exception as exc:  # noqa: BLE001 - e.g. out of processes; the run must not stay RUNNING
            if self.stopping.is_set():  # the forkserver got the group's SIGTERM: run it next start
                dispatch.abandon(job, self.id, "the scheduler was stopping before the suite could start")
            else:
                dispatch.finish(job, suite, self.id, f"the check process could not start: {exc}")
            raise
        self.running[job.run_id] = running
        self.running_suites[job.run_id] = suite
        self.counters[("started", job.trigger)] += 1

    def poll(self) -> None:
        """Close finished children and stop those past their deadline."""
        now = time.monotonic()
        for run_id, running in list(self.running.items()):
            if running.finished:
                error = running.error()
                if error is not None and self.stopping.is_set():
                    # Killed along with us (systemd signals the whole group): run it again next start.
                    dispatch.abandon(running.job, self.id, f"the scheduler was stopping and {error}")
                else:
                    dispatch.finish(running.job, self.running_suites[run_id], self.id, error)
                    self._log_end(running, error)
            elif running.timed_out(now):
                running.stop()
                error = dispatch.timed_out_message(self.config.timeout_seconds)
                dispatch.finish(running.job, self.running_suites[run_id], self.id, error)
                self.counters[("timeout", running.job.suite)] += 1
                TIMEOUTS.labels(running.job.suite).inc()
                event(log, logging.ERROR, SUITE_TIMEOUT, running.job.suite, run_id=running.job.run_id,
                      timeout_s=self.config.timeout_seconds, error=error)
            else:
                continue
            self._forget(run_id)

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
            aborted = scheduling.repair_expired(conn)
        for run_id in aborted:
            self.counters[("repaired", "aborted")] += 1
            log.warning("run #%s was left RUNNING by a scheduler that stopped renewing its lease: "
                        "marked ABORTED; it runs again", run_id)

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
        current = ", ".join(sorted(self._busy()))[:200] or None
        with db.write() as conn:
            scheduling.beat(conn, self.id, status=status, current_suite=current)
            if status != "stopped":
                scheduling.renew_leases(conn, self.id, self.config.lease_seconds)

    def _safe(self, name: str, fn: Callable[[], object]) -> None:
        """Run one job; log its error once (until it changes or recovers) and carry on."""
        try:
            fn()
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
