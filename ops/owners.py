"""Whose runs are these: process liveness on this host, and repairing runs whose owner is gone.

Every run row names the host and pid of the process that created it. A CLI run killed with
SIGKILL, a gate killed by its pipeline, a scheduler lost with its host: whichever process of
ours comes next (a CLI run, the gate, a scheduler tick) marks such runs ABORTED.
"""

from __future__ import annotations

import logging
import os
import socket

from sqlalchemy.engine import Engine

import settings
from engine import cancel
from engine.errors import EngineError
from engine.manifest import load_sources
from engine.sources import resolve
from store import db, scheduling

log = logging.getLogger(__name__)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def alive_on(host: str, pid: int) -> bool:
    """Whether a process recorded with its host still exists; other hosts are assumed alive."""
    return host != socket.gethostname() or pid_alive(pid)


def repair_orphans(engine: Engine | None = None) -> list[int]:
    """Mark ABORTED every RUNNING run whose owner is gone, and cancel its reads still in the source.

    One read, and a write only if there is something to repair.
    """
    host = socket.gethostname()
    with db.read(engine) as conn:
        if not scheduling.orphaned_runs(conn, host, pid_alive):
            return []
    with db.write(engine) as conn:
        aborted = scheduling.repair_orphans(conn, host, pid_alive)
        sources = scheduling.run_sources(conn, [run_id for run_id, _ in aborted])
    for run_id, _ in aborted:
        log.warning("run #%s was left RUNNING by a process that is gone: marked ABORTED", run_id)
        # A killed process leaves its backend behind, waiting on a lock or still reading.
        cancel_reads(sources[run_id], f"dq-run-{run_id}")
    return [run_id for run_id, _ in aborted]


def cancel_reads(source_name: str, tag: str) -> int:
    """Cancel in the source every statement tagged `tag` (a run's reads); how many were cancelled."""
    try:
        known = load_sources(settings.get("DQ_RULES_DIR") / "sources.yaml")
        if source_name not in known:
            return 0
        cancelled = cancel.cancel_tagged(resolve(known[source_name]), tag)
    except EngineError as exc:
        log.warning("%s", exc)
        return 0
    if cancelled:
        log.info("cancelled %d read(s) of %s in source %r", cancelled, tag, source_name)
    return cancelled
