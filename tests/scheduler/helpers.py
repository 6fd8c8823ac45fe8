"""Real scheduler processes for tests: a warehouse, rules loaded into the store, start/stop, polling."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from engine.manifest import load_catalog
from store import db
from store.rules import sync_catalog

ROOT = Path(__file__).resolve().parents[2]

# Small intervals so a test sees ticks, heartbeats and lease expiry within seconds.
FAST = {
    "DQ_SCHEDULER_TICK_SECONDS": "0.2",
    "DQ_HEARTBEAT_SECONDS": "0.3",
    "DQ_LEASE_SECONDS": "3",
    "DQ_SCHEDULER_STOP_SECONDS": "10",
    "DQ_OVERDUE_GRACE_SECONDS": "30",
}

SUITE = """\
suite: {name}
source: warehouse
table: orders
layer: silver
schedule: "{schedule}"
rules:
  - {{name: {name}_id_not_null, check: not_null, column: id, severity: HIGH}}
  - {{name: {name}_amount_not_null, check: not_null, column: amount, severity: LOW}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sqlite_warehouse(path: Path) -> str:
    """A warehouse with one bad row (a NULL id); returns its URL (SQLAlchemy style, four slashes)."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE orders (id INTEGER, amount REAL)")
    conn.executemany("INSERT INTO orders VALUES (?, ?)", [(1, 10.0), (2, 20.0), (None, 5.0)])
    conn.commit()
    conn.close()
    return f"sqlite:///{path}"


def pg_warehouse(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE orders (id INTEGER, amount DOUBLE PRECISION)")
        conn.exec_driver_sql("INSERT INTO orders VALUES (1, 10.0), (2, 20.0), (NULL, 5.0)")
    engine.dispose()


def load_rules(rules: Path, suites: dict[str, str]) -> None:
    """Write one manifest per suite (name -> cron schedule) and load them into the store."""
    rules.mkdir(exist_ok=True)
    (rules / "sources.yaml").write_text("sources:\n  warehouse: {kind: sql}\n")
    for name, schedule in suites.items():
        (rules / f"{name}.yaml").write_text(SUITE.format(name=name, schedule=schedule))
    catalog = load_catalog([rules], default_sources=rules / "sources.yaml")
    with db.write() as conn:
        sync_catalog(conn, catalog, "test", prune=True)


@dataclass
class Process:
    popen: subprocess.Popen[str]
    log: Path
    port: int

    def url(self, path: str = "/api/v1/dq/health/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def output(self) -> str:
        return self.log.read_text()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
        return self.popen.wait(timeout)


def environment(extra: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **FAST, **extra}


def start_scheduler(tmp: Path, name: str, env: dict[str, str], *args: str) -> Process:
    port = free_port()
    log = tmp / f"scheduler-{name}-{time.monotonic_ns()}.log"
    handle = log.open("w")
    popen = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "scheduler", "--id", name, *args],
        env={**environment(env), "DQ_HEALTH_PORT": str(port)}, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT,
        text=True,
    )
    handle.close()
    return Process(popen, log, port)


def manage(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], env=environment(env), cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def wait_for(what: str, predicate: Callable[[], Any], timeout: float = 45, process: Process | None = None) -> Any:
    """Poll until `predicate` returns something truthy; fail with the scheduler's log otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if process is not None and process.popen.poll() is not None:
            raise AssertionError(f"scheduler exited ({process.popen.returncode}) while waiting for {what}:\n{process.output()}")
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}" + (f"\n{process.output()}" if process else ""))


def runs(**where: Any) -> list[dict[str, Any]]:
    from store.schema import runs as table

    query = sa.select(table).order_by(table.c.id)
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    with db.read() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def get(url: str) -> tuple[int, str]:
    """GET with a real HTTP client; (status, body) for 2xx and error statuses alike."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def health(process: Process) -> tuple[int, dict[str, Any]]:
    status, body = get(process.url())
    return status, json.loads(body)


class Lock:
    """An exclusive lock on `orders` held by another session; counts the sessions waiting on it."""

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        self.dialect = self.engine.dialect.name
        self.holder = self.engine.connect()
        if self.dialect == "postgresql":
            self.holder.exec_driver_sql("BEGIN")
            self.holder.exec_driver_sql("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
        else:
            self.holder.exec_driver_sql("LOCK TABLES orders WRITE")
        self.watcher = self.engine.connect()

    def waiting(self) -> int:
        """Backends of this database still waiting on the lock: what a hung read leaves behind."""
        if self.dialect == "postgresql":
            sql = ("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                   "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()")
        else:
            sql = ("SELECT count(*) FROM information_schema.processlist WHERE db = DATABASE() "
                   "AND state LIKE 'Waiting for table%%lock' AND id <> CONNECTION_ID()")
        return int(self.watcher.exec_driver_sql(sql).scalar_one())

    def release_now(self) -> None:
        """Let readers through, keeping the watcher (release() still cleans up)."""
        if self.holder.closed:
            return
        self.holder.exec_driver_sql("ROLLBACK" if self.dialect == "postgresql" else "UNLOCK TABLES")
        self.holder.close()

    def release(self) -> None:
        self.release_now()
        self.watcher.close()
        self.engine.dispose()
