"""Fault tests of the scheduler and the CLI with real processes and real servers, with figures.

    python bench/faults.py                   # every scenario, short (a few minutes on 2 cores)
    python bench/faults.py --full            # the issue's sizes: 50 kill -9 per store, 3-minute starvation, ...
    python bench/faults.py kill9 starvation  # chosen scenarios

Scenarios: kill9 (kill -9 of the scheduler at random, on SQLite and PostgreSQL: lost, stuck and
duplicated runs), replicas (two schedulers on PostgreSQL with run requests: anything run twice),
starvation (two suites on a locked PostgreSQL table, three healthy ones: their runs, the
backends left waiting), interrupt (run_dq_checks and dq_gate on a hung read: SIGINT, SIGTERM,
SIGKILL), fencing (twins on PostgreSQL; SIGSTOP/SIGCONT on SQLite: writes after waking).
The fast versions of each are in tests/ (tests/scheduler/test_fairness.py, test_fencing.py,
test_process.py, tests/cli/test_interrupt.py). Needs PostgreSQL at DQ_TEST_PG_ADMIN_URL
(default postgresql+psycopg://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PG_ADMIN = os.environ.get("DQ_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@contextmanager
def pg_database() -> Iterator[str]:
    name = f"dqfaults_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield sa.engine.make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    finally:
        from store import db

        db.dispose_all()
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


@contextmanager
def store(kind: str) -> Iterator[Path]:
    """A fresh migrated store (sqlite or postgresql) and data folder; DQ_STORE_URL points at it."""
    from store import db, migrations

    folder = Path(tempfile.mkdtemp(prefix="dq-faults-"))
    os.environ["DQ_DATA_DIR"] = str(folder)
    if kind == "sqlite":
        os.environ["DQ_STORE_URL"] = f"sqlite:///{folder}/store.db"
        migrations.migrate()
        yield folder
        db.dispose_all()
        return
    with pg_database() as url:
        os.environ["DQ_STORE_URL"] = url
        migrations.migrate()
        yield folder


def cx(url: str) -> str:
    parsed = sa.engine.make_url(url)
    return parsed.set(drivername=parsed.get_backend_name()).render_as_string(hide_password=False)


def line(name: str, **figures: object) -> None:
    print(f"{name}: " + ", ".join(f"{k}={v}" for k, v in figures.items()), flush=True)


# --- kill -9 ---------------------------------------------------------------------------------


def kill9(kind: str, kills: int) -> None:
    from tests.scheduler.helpers import (
        load_rules,
        runs,
        sqlite_warehouse,
        start_scheduler,
        wait_for,
    )

    with store(kind) as folder:
        env = {"DQ_RULES_DIR": str(folder / "rules"), "DQ_SOURCE_WAREHOUSE_URL": sqlite_warehouse(folder / "wh.db")}
        load_rules(folder / "rules", {f"s{n}": "* * * * * */2" for n in range(4)})
        rng = random.Random(7)
        for _ in range(kills):
            proc = start_scheduler(folder, "k", env)
            # Once it runs suites: mid-run, just after a run, at random (start-up time varies with load).
            wait_for("a started run", lambda: "started run #" in proc.output(), timeout=120)  # noqa: B023
            time.sleep(rng.uniform(0.0, 2.5))
            proc.stop(signal.SIGKILL)
        final = start_scheduler(folder, "k", env)
        wait_for("the final scheduler running suites", lambda: "started run #" in final.output(), timeout=120)
        time.sleep(3)
        code = final.stop()
        if runs(status="RUNNING") or code != 0:
            print(f"final scheduler exited {code}; RUNNING: {runs(status='RUNNING')}\n{final.output()[-3000:]}")
        from store import db, schema

        with db.read() as conn:
            claims = conn.execute(sa.select(schema.schedule_claims.c.run_id)).scalars().all()
        every = runs()
        by_id = {r["id"]: r for r in every}
        lost = sum(1 for run_id in claims if run_id is None or by_id[run_id]["status"] in ("RUNNING", "ABORTED"))
        done = [r for r in every if r["status"] not in ("ABORTED", "RUNNING")]
        duplicates = sum(n - 1 for n in Counter((r["suite"], r["due_at"]) for r in done).values() if n > 1)
        line(f"kill9[{kind}]", kills=kills, runs=len(done), aborted_then_rerun=sum(r["status"] == "ABORTED" for r in every),
             lost=lost, stuck=len(runs(status="RUNNING")), duplicated=duplicates)


# --- two replicas ----------------------------------------------------------------------------


def replicas(seconds: float) -> None:
    from ops.run_requests import request_run
    from tests.scheduler.helpers import load_rules, runs, sqlite_warehouse, start_scheduler

    with store("postgresql") as folder:
        env = {"DQ_RULES_DIR": str(folder / "rules"), "DQ_SOURCE_WAREHOUSE_URL": sqlite_warehouse(folder / "wh.db")}
        load_rules(folder / "rules", {f"s{n}": "* * * * * */2" for n in range(4)})
        procs = [start_scheduler(folder, name, env) for name in ("a", "b")]
        requests = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            request_run(f"s{requests % 4}", requested_by="bench", origin="cli")
            requests += 1
            time.sleep(0.5)
        time.sleep(5)
        codes = [p.stop() for p in procs]
        done = [r for r in runs() if r["status"] not in ("ABORTED", "RUNNING")]
        ticks = Counter((r["suite"], r["due_at"]) for r in done if r["trigger"] == "schedule")
        line("replicas[postgresql]", seconds=seconds, ticks_run=len(ticks), requests=requests,
             request_runs=sum(r["trigger"] == "request" for r in done),
             by_replica=dict(Counter(r["worker"] for r in done)),
             tick_run_twice=sum(1 for n in ticks.values() if n > 1), exit_codes=codes)


# --- starvation ------------------------------------------------------------------------------


def starvation(seconds: float) -> None:
    from tests.scheduler.helpers import Lock, runs, start_scheduler
    from tests.scheduler.test_fairness import _load, _warehouse

    with store("sqlite") as folder, pg_database() as warehouse:
        _warehouse(warehouse)
        every_seconds = 10
        schedule = f"* * * * * */{every_seconds}"
        suites = {f"a_hung{n}": ("wh", "orders", schedule) for n in (1, 2)}
        suites |= {f"z_ok{n}": ("wh", "customers", schedule) for n in (1, 2, 3)}
        _load(folder / "rules", suites, "sources:\n  wh: {kind: sql}\n")
        env = {"DQ_RULES_DIR": str(folder / "rules"), "DQ_SOURCE_WH_URL": cx(warehouse),
               "DQ_SUITE_TIMEOUT_SECONDS": "8", "DQ_SCHEDULER_CONCURRENCY": "2"}
        lock = Lock(warehouse)
        proc = start_scheduler(folder, "one", env)
        most = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            most = max(most, lock.waiting())
            time.sleep(0.5)
        lock.release_now()
        proc.stop()
        after = lock.waiting()
        lock.release()
        done = [r for r in runs() if r["status"] != "RUNNING"]
        healthy = Counter(r["suite"] for r in done if r["suite"].startswith("z_ok") and r["status"] == "PASSED")
        line("starvation[postgresql source]", seconds=seconds, expected_each=int(seconds // every_seconds),
             healthy_runs=dict(sorted(healthy.items())),
             hung_attempts=sum(r["suite"].startswith("a_hung") for r in done),
             most_backends_waiting=most, backends_left_after=after)


# --- interrupt -------------------------------------------------------------------------------


def interrupt(tries: int) -> None:
    from tests.scheduler.helpers import ROOT as root
    from tests.scheduler.helpers import Lock, environment, load_rules, pg_warehouse, runs, wait_for

    with store("sqlite") as folder, pg_database() as warehouse:
        pg_warehouse(warehouse)
        load_rules(folder / "rules", {"gold_daily": "0 0 * * *"})
        env = {"DQ_RULES_DIR": str(folder / "rules"), "DQ_SOURCE_WAREHOUSE_URL": cx(warehouse)}
        for command in ("run_dq_checks", "dq_gate"):
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
                codes: Counter[int] = Counter()
                slowest = 0.0
                lock = Lock(warehouse)
                for _ in range(tries):
                    proc = subprocess.Popen([sys.executable, str(root / "manage.py"), command, "--suite", "gold_daily"],
                                            env=environment(env), cwd=root, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL)
                    wait_for("the hang", lambda: lock.waiting() >= 1, timeout=30)  # noqa: B023 - called at once
                    sent = time.monotonic()
                    proc.send_signal(sig)
                    codes[proc.wait(30)] += 1
                    slowest = max(slowest, time.monotonic() - sent)
                killed_left = len(runs(status="RUNNING"))
                waiting = lock.waiting()
                # The next process (a run with --timeout, the table still locked) repairs what SIGKILL left.
                subprocess.run([sys.executable, str(root / "manage.py"), "run_dq_checks", "--suite", "gold_daily",
                                "--timeout", "2"], env=environment(env), cwd=root, capture_output=True, timeout=60)
                waiting_after = lock.waiting()
                lock.release()
                line(f"interrupt[{command} {signal.Signals(sig).name}]", tries=tries, exit_codes=dict(codes),
                     slowest_exit_s=round(slowest, 2), running_left=killed_left,
                     running_after_next_process=len(runs(status="RUNNING")), backends_waiting=waiting,
                     backends_waiting_after_next_process=waiting_after)


# --- fencing ---------------------------------------------------------------------------------


def fencing(tries: int) -> None:
    from tests.scheduler.helpers import (
        load_rules,
        runs,
        sqlite_warehouse,
        start_scheduler,
        wait_for,
    )
    from tests.scheduler.test_fencing import _beat_of, _pause_outside_a_write

    with store("postgresql") as folder:
        env = {"DQ_RULES_DIR": str(folder / "rules"), "DQ_SOURCE_WAREHOUSE_URL": sqlite_warehouse(folder / "wh.db")}
        load_rules(folder / "rules", {"s1": "0 0 * * *"})
        both = 0
        for _ in range(tries):
            twins = [start_scheduler(folder, "twin", env) for _ in range(2)]
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and all(p.popen.poll() is None for p in twins):
                time.sleep(0.2)
            time.sleep(2)
            for p in twins:
                p.stop()
            both += all("scheduler 'twin' started" in p.output() for p in twins)  # both registered
        line("fencing[twins postgresql]", tries=tries, both_ran=both)
    with store("sqlite") as folder:
        env = {"DQ_RULES_DIR": str(folder / "rules"), "DQ_SOURCE_WAREHOUSE_URL": sqlite_warehouse(folder / "wh.db")}
        load_rules(folder / "rules", {"s1": "* * * * * *", "s2": "* * * * * *"})
        writes_after_wake = 0
        codes: Counter[int] = Counter()
        for attempt in range(tries):
            first = start_scheduler(folder, f"a{attempt}", env)
            wait_for("a run", lambda: runs(worker=f"a{attempt}"), timeout=60)  # noqa: B023 - called at once
            _pause_outside_a_write(first, os.environ["DQ_STORE_URL"])
            time.sleep(14)
            second = start_scheduler(folder, f"b{attempt}", env)
            wait_for("b runs", lambda: len(runs(worker=f"b{attempt}")) >= 3, timeout=60)  # noqa: B023
            before = (_beat_of(f"a{attempt}"), len(runs(worker=f"a{attempt}")))
            first.popen.send_signal(signal.SIGCONT)
            codes[first.popen.wait(30)] += 1
            time.sleep(1)
            after = (_beat_of(f"a{attempt}"), len(runs(worker=f"a{attempt}")))
            writes_after_wake += before != after
            second.stop()
        line("fencing[SIGSTOP 14 s, sqlite]", tries=tries, paused_exit_codes=dict(codes),
             tries_with_writes_after_wake=writes_after_wake)


def kill9_both(full: bool) -> None:
    for kind in ("sqlite", "postgresql"):
        kill9(kind, 50 if full else 8)


SCENARIOS: dict[str, Callable[[bool], None]] = {
    "kill9": kill9_both,
    "replicas": lambda full: replicas(120 if full else 30),
    "starvation": lambda full: starvation(180 if full else 60),
    "interrupt": lambda full: interrupt(5 if full else 2),
    "fencing": lambda full: fencing(5 if full else 2),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO", help=f"any of {', '.join(SCENARIOS)} (default: all)")
    parser.add_argument("--full", action="store_true", help="the issue's sizes (takes about half an hour)")
    args = parser.parse_args()
    unknown = sorted(set(args.scenarios) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    for name in args.scenarios or list(SCENARIOS):
        began = time.monotonic()
        SCENARIOS[name](args.full)
        print(f"  ({name}: {time.monotonic() - began:.0f}s)", flush=True)


if __name__ == "__main__":
    main()
