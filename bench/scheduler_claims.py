"""Benchmark: how fast schedulers claim due ticks, and what a health check costs, on SQLite and PostgreSQL.

Two threads (standing in for two replicas) race to claim the same 200 due ticks of 20 suites;
every claim is the scheduler's real transaction (lease, unique tick claim, RUNNING run row).
Prints claims per second, the share each claimer won, duplicates (must be 0) and health.check() time.

    python bench/scheduler_claims.py                          # SQLite in a temporary folder
    python bench/scheduler_claims.py postgresql+psycopg://postgres@127.0.0.1:5432/dq_bench
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SUITES = 20
TICKS = 10


def main() -> None:
    folder = tempfile.mkdtemp(prefix="dq-bench-")
    os.environ["DQ_DATA_DIR"] = folder
    os.environ["DQ_STORE_URL"] = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{folder}/store.db"
    from tests.scheduler.helpers import load_rules  # noqa: I001 - after the environment is set

    from ops import health
    from ops.cron import DueWork
    from scheduler import dispatch
    from store import db, migrations
    from store.rules import live_suites

    migrations.migrate()
    load_rules(Path(folder) / "rules", {f"bench_{n}": "* * * * *" for n in range(SUITES)})
    suites = live_suites()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    won: Counter[str] = Counter()
    runs: list[tuple[str, datetime]] = []

    def claimer(name: str) -> None:
        for tick in range(TICKS):
            due = start + timedelta(minutes=tick)
            for suite in suites:
                job = dispatch.claim_due(DueWork(suite.name, due, None), suite, name, 60)
                if job is not None:
                    won[name] += 1
                    runs.append((suite.name, due))
                    dispatch.finish(job, suite, name, "benchmark: not evaluated")

    began = time.perf_counter()
    threads = [threading.Thread(target=claimer, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    duplicates = sum(c - 1 for c in Counter(runs).values() if c > 1)
    attempts = 2 * SUITES * TICKS
    print(f"store: {db.get_engine().url.render_as_string(hide_password=True)}")
    print(f"{attempts} claim attempts in {elapsed:.2f}s = {attempts / elapsed:.0f}/s; "
          f"won a={won['a']} b={won['b']} of {SUITES * TICKS}; duplicates={duplicates}")
    samples = []
    for _ in range(20):
        t0 = time.perf_counter()
        health.check()
        samples.append(time.perf_counter() - t0)
    samples.sort()
    print(f"health.check(): median {samples[10] * 1000:.1f} ms, max {samples[-1] * 1000:.1f} ms ({SUITES} suites)")


if __name__ == "__main__":
    main()
