"""Running one suite in a child process the scheduler can stop: a hung check (a hung database
query included) is killed at its deadline instead of hanging the scheduler with it.

Children come from a forkserver that has already imported the engine, so starting one costs
a fork, not a fresh interpreter, and no child inherits the scheduler's threads or connections.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
import traceback
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection

from store.fencing import Lease

log = logging.getLogger("scheduler")

_PRELOAD = ["ops.run_checks", "store.results", "polars", "connectorx", "sqlalchemy"]
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(_PRELOAD)


@dataclass(frozen=True)
class SuiteJob:
    """One claimed run: the RUNNING row `run_id` exists; the child fills it in."""

    suite: str
    run_id: int
    trigger: str  # schedule | request
    worker: str
    requested_by: str
    due_at: datetime | None = None
    rule_names: tuple[str, ...] | None = None
    request_id: int | None = None
    generation: int | None = None  # the lease's fencing token: the child's writes carry it
    source: str | None = None
    timeout_seconds: float | None = None

    def lease(self) -> Lease | None:
        return None if self.generation is None else Lease(self.suite, self.worker, self.generation)

    def describe(self) -> str:
        what = f"suite {self.suite!r}" + (f" (rules {', '.join(self.rule_names)})" if self.rule_names else "")
        why = f"due {self.due_at.isoformat()}" if self.due_at else f"request #{self.request_id} by {self.requested_by}"
        return f"run #{self.run_id} of {what}, {why}"


# The child's reads are stopped in the source at the timeout; it is killed only if still alive this much later.
KILL_GRACE_SECONDS = 5.0
# The child recorded its run, but its reads were stopped at the time budget: the loop backs the suite off.
EXIT_RAN_OUT_OF_TIME = 75


def run_job(job: SuiteJob) -> bool:
    """The suite-running call: the one place the scheduler hands a claimed run to the engine.

    Returns whether the run ran out of time (its reads were stopped in the source)."""
    from ops.run_checks import run_suite

    summary = run_suite(
        job.suite,
        trigger=job.trigger,
        rule_names=list(job.rule_names) if job.rule_names else None,
        requested_by=job.requested_by,
        due_at=job.due_at,
        worker=job.worker,
        run_id=job.run_id,
        announce=False,  # the scheduler logs, counts and emits it (scheduler.dispatch.finish)
        lease=job.lease(),
        # The source ends the child's reads at the timeout; the scheduler kills it only KILL_GRACE later.
        timeout_seconds=job.timeout_seconds,
    )
    return summary.timed_out


def _watch_scheduler(pid: int) -> None:
    """Exit when the scheduler is gone (kill -9): its successor aborts and re-runs this run."""
    while True:
        time.sleep(0.5)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os._exit(70)
        except PermissionError:
            pass


def _child_main(job: SuiteJob, errors: Connection, scheduler_pid: int) -> None:
    # Ctrl-C and systemd's SIGTERM reach the whole process group; the scheduler decides whether
    # this run finishes (within DQ_SCHEDULER_STOP_SECONDS) or is killed and aborted.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Children come from the forkserver, not the scheduler, so nothing else ends them with it.
    threading.Thread(target=_watch_scheduler, args=(scheduler_pid,), daemon=True).start()
    try:
        ran_out = run_job(job)
    except BaseException as exc:  # noqa: BLE001 - anything that escapes must reach the parent
        errors.send(f"{type(exc).__name__}: {exc}")
        traceback.print_exc()
        raise SystemExit(1) from None
    finally:
        errors.close()
    if ran_out:
        raise SystemExit(EXIT_RAN_OUT_OF_TIME)


@dataclass
class Running:
    """A child running one job, with the deadline after which it is stopped."""

    job: SuiteJob
    process: multiprocessing.process.BaseProcess
    errors: Connection
    started: float
    deadline: float

    @property
    def finished(self) -> bool:
        return not self.process.is_alive()

    @property
    def ran_out_of_time(self) -> bool:
        """The child recorded its run, its reads stopped in the source at the time budget."""
        return self.process.exitcode == EXIT_RAN_OUT_OF_TIME

    def timed_out(self, now: float) -> bool:
        return now > self.deadline

    def error(self) -> str | None:
        """What went wrong, once the child has ended: its exception, or how it died."""
        message = None
        try:
            if self.errors.poll():
                message = self.errors.recv()
        except (EOFError, OSError):
            pass  # the child closed its end without a word: it finished normally or died
        code = self.process.exitcode
        if message:
            return message
        if code in (0, EXIT_RAN_OUT_OF_TIME):
            return None
        if code is not None and code < 0:
            return f"the check process was killed by signal {signal.Signals(-code).name}"
        return f"the check process exited with code {code}"

    def stop(self) -> None:
        """Kill the child: it ignores SIGTERM, and a hung query would not notice one anyway."""
        self.process.kill()
        self.process.join(5)

    def close(self) -> None:
        self.errors.close()
        self.process.join(0)
        self.process.close()


def warm_up() -> None:
    """Start the forkserver now, so the first due suite does not wait for the engine's imports."""
    from multiprocessing import forkserver

    forkserver.ensure_running()


def start(job: SuiteJob, timeout_seconds: float, scheduler_pid: int) -> Running:
    """Start `job` in a child process that must finish within `timeout_seconds`."""
    receiver, sender = _CONTEXT.Pipe(duplex=False)
    process = _CONTEXT.Process(target=_child_main, args=(job, sender, scheduler_pid),
                               name=f"dq-suite-{job.suite}", daemon=True)
    process.start()
    sender.close()  # the child holds its own copy; the parent only reads
    now = time.monotonic()
    log.info("started %s (pid %s)", job.describe(), process.pid)
    return Running(job=job, process=process, errors=receiver, started=now,
                   deadline=now + timeout_seconds + KILL_GRACE_SECONDS)
