"""Benchmark of the operations commands on a large SQLite store: export, backup, restore, cleanup.

Usage: python bench/ops_bench.py [--runs 20000] [--results-per-run 5] [--url sqlite:///...]
Prints seconds per step and rows per second. Nothing here is asserted; the tests assert behaviour.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa  # noqa: E402

from ops import backup, export, retention  # noqa: E402
from store import db, migrations, schema  # noqa: E402

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def populate(engine: sa.Engine, runs: int, per_run: int) -> None:
    step = timedelta(days=360) / runs
    with db.write(engine) as conn:
        run_rows = [
            {"id": i + 1, "suite": f"s{i % 20}", "source": "w", "trigger": "schedule", "status": "FAILED",
             "started_at": NOW - timedelta(days=360) + i * step, "finished_at": NOW - timedelta(days=360) + i * step,
             "rows_read": 1000, "rules_total": per_run, "rules_failed": 1, "rules_error": 0}
            for i in range(runs)
        ]
        conn.execute(schema.runs.insert(), run_rows)
        result_rows = [
            {"run_id": r["id"], "rule_name": f"rule_{k}", "suite": r["suite"], "check_type": "not_null", "severity": "HIGH",
             "status": "FAILED" if k == 0 else "PASSED", "observed_value": 0.01 * k, "failing_rows": k, "rows_tested": 1000,
             "metrics": {"null_rate": 0.01 * k}, "message": "m", "finished_at": r["started_at"]}
            for r in run_rows for k in range(per_run)
        ]
        conn.execute(schema.results.insert(), result_rows)
        violation_rows = [
            {"rule_name": "rule_0", "suite": r["suite"], "source": "w", "check_type": "not_null", "severity": "HIGH",
             "status": "resolved", "verdict": "FAILED", "detected_at": r["started_at"], "last_seen_at": r["started_at"],
             "resolved_at": r["started_at"], "occurrences": 1, "acknowledged": True, "sample": [{"id": 1}]}
            for r in run_rows[::10]
        ]
        conn.execute(schema.violations.insert(), violation_rows)


def timed(label: str, rows: int, fn) -> None:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    seconds = time.perf_counter() - start
    print(f"{label:<34} {seconds:7.2f} s  {rows / seconds:12,.0f} rows/s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20000)
    parser.add_argument("--results-per-run", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="dq-ops-bench-"))
    os.environ["DQ_NOW"] = NOW.isoformat()
    os.environ["DQ_DATA_DIR"] = str(folder)
    engine = db.get_engine(f"sqlite:///{folder / 'store.db'}")
    migrations.migrate(engine)
    total = args.runs * (1 + args.results_per_run) + args.runs // 10
    timed("populate", total, lambda: populate(engine, args.runs, args.results_per_run))
    request = export.ExportRequest(kind="runs", path=folder / "runs.parquet")
    timed("export runs (parquet)", args.runs, lambda: export.export(request, engine))
    timed("export runs (json)", args.runs, lambda: export.export(export.ExportRequest("runs", folder / "runs.json"), engine))
    timed("backup", total, lambda: backup.backup(folder / "bk", engine))
    target = db.get_engine(f"sqlite:///{folder / 'restored.db'}")
    timed("restore (into a new SQLite file)", total, lambda: backup.restore(folder / "bk", "bench", target))
    half = total // 2  # the older half of a year is past the 180-day cutoff
    timed("cleanup --older-than-days 180", half, lambda: retention.cleanup(180, archive=folder / "arch", engine=engine))
    print(f"data in {folder}")


if __name__ == "__main__":
    main()
