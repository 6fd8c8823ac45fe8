"""Benchmark: a 10-rule suite pushed down into DuckDB (and Spark) over a Parquet `orders` file, 3 rules failing.

    python bench/pushdown_lakes_bench.py [--rows 10000000] [--repeat 3] [--spark]

The table (8 columns, no primary key; planted defects: duplicated order ids, out-of-range amounts,
unknown currencies) is generated once as bench/.cache/lakes/silver/orders_nopk.parquet (git-ignored).
Each measurement runs in a fresh subprocess so its peak memory (ru_maxrss) is its own. The limit:
one hand-tuned DuckDB statement of the same aggregates (the duplicates' count and distinct duplicated
values from one grouping) plus the three failing rules' LIMITed samples.
Target: the engine's DuckDB pushdown within 1.15x of it. `--spark` adds Spark local mode (no target;
its session start is reported apart from the suite).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
LAKE = ROOT / "bench" / ".cache" / "lakes"
PARQUET = LAKE / "silver" / "orders_nopk.parquet"
NOW = datetime(2026, 1, 1, 1, 0, tzinfo=UTC)
STATUSES = ["NEW", "PAID", "SHIPPED", "DELIVERED", "CANCELLED"]
CURRENCIES = ["EUR", "USD", "GBP"]
CAP = 20


def build(rows: int) -> None:
    import numpy as np
    import polars as pl

    if PARQUET.exists() and pl.scan_parquet(PARQUET).select(pl.len()).collect().item() == rows:
        return
    print(f"writing {rows:,} rows (once) ...", flush=True)
    rng = np.random.default_rng(14)
    ids = np.arange(rows, dtype=np.int64)
    ids[rng.choice(rows, rows // 1000, replace=False)] = 7  # planted: duplicated keys
    amount = rng.uniform(0, 1000, rows).round(2)
    amount[rng.choice(rows, rows // 2000, replace=False)] = -5.0  # planted: out of range
    currency = np.array(CURRENCIES + ["XXX"])[np.where(rng.random(rows) < 0.0005, 3, rng.integers(0, 3, rows))]
    frame = pl.DataFrame({
        "order_id": ids, "customer_id": rng.integers(1, 1_000_000, rows),
        "email": pl.Series(rng.integers(0, 10**9, rows)).cast(pl.String) + "@example.com",
        "status": np.array(STATUSES)[rng.integers(0, 5, rows)], "currency": currency, "amount": amount,
        "quantity": rng.integers(1, 10, rows),
        "created_at": pl.datetime_range(datetime(2025, 1, 1), datetime(2026, 1, 1), interval="1s", eager=True,
                                        time_zone="UTC").sample(rows, with_replacement=True, seed=1),
    })
    PARQUET.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(PARQUET, row_group_size=1_000_000)


RULES = f"""
- {{name: orders_not_empty, check: row_count, min: 1}}
- {{name: customer_present, check: not_null, column: customer_id}}
- {{name: order_id_unique, check: unique, column: order_id}}                 # fails
- {{name: email_null_rate, check: null_rate, column: email, threshold: 0.05}}
- {{name: email_length, check: string_length, column: email, min: 5, max: 200}}
- {{name: amount_range, check: between, column: amount, min: 0, max: 100000}}  # fails
- {{name: status_known, check: accepted_values, column: status, values: {STATUSES}}}
- {{name: currency_known, check: accepted_values, column: currency, values: {CURRENCIES}}}  # fails
- {{name: orders_fresh, check: freshness, column: created_at, max_age: 2h}}
- {{name: amount_mean, check: aggregate, column: amount, stat: mean, min: 100, max: 900}}
"""


def suite():
    """The ten rules through the manifest parser, as a rules file would give them."""
    import yaml

    from engine.manifest import suite_from_definitions

    header = {"suite": "orders", "source": "lake", "table": "silver.orders_nopk", "layer": "silver",
              "execution": "pushdown", "pii_columns": ["email"]}
    definitions = [{"severity": "HIGH", **d} for d in yaml.safe_load(RULES)]
    return suite_from_definitions(header, definitions)


HAND_TUNED = f"""
SELECT count(*) AS rows, count(*) FILTER (WHERE customer_id IS NULL) AS customer_nulls,
  any_value(d.duplicates) AS duplicates, any_value(d.duplicated_values) AS duplicated_values,
  count(*) FILTER (WHERE email IS NULL) AS email_nulls,
  count(*) FILTER (WHERE length(email) NOT BETWEEN 5 AND 200) AS bad_length,
  count(*) FILTER (WHERE amount < 0 OR amount > 100000) AS out_of_range,
  count(*) FILTER (WHERE status NOT IN ({", ".join(f"'{s}'" for s in STATUSES)})) AS bad_status,
  count(*) FILTER (WHERE currency NOT IN ({", ".join(f"'{c}'" for c in CURRENCIES)})) AS bad_currency,
  max(created_at) AS newest, avg(amount) AS mean_amount
FROM t CROSS JOIN (SELECT coalesce(sum(n), 0) AS duplicates, count(*) AS duplicated_values
                   FROM (SELECT count(*) AS n FROM t WHERE order_id IS NOT NULL GROUP BY order_id
                         HAVING count(*) > 1)) AS d"""
SAMPLES = [
    "SELECT * FROM t WHERE order_id IN (SELECT order_id FROM t GROUP BY order_id HAVING count(*) > 1) LIMIT 20",
    "SELECT * FROM t WHERE amount < 0 OR amount > 100000 LIMIT 20",
    f"SELECT * FROM t WHERE currency NOT IN ({', '.join(repr(c) for c in CURRENCIES)}) LIMIT 20",
]


def measure(mode: str) -> dict:
    """Runs in a child process: one evaluation, its wall time and this process's peak memory."""
    import duckdb

    from engine.evaluate import evaluate_suite
    from engine.model import Source

    extra = {}
    if mode == "engine-spark":
        from engine.pushdown.backends.spark import spark_session

        begun = time.perf_counter()
        spark_session("local[2]").sparkContext.setLogLevel("ERROR")
        extra["session_start_s"] = round(time.perf_counter() - begun, 2)
    started = time.perf_counter()
    if mode == "limit-duckdb":
        conn = duckdb.connect(":memory:")
        view = f"CREATE VIEW t AS SELECT * FROM read_parquet('{PARQUET}')"  # our own constant path
        conn.execute(view)
        rows = conn.execute(HAND_TUNED).pl()  # as the engine's backend fetches (a timestamptz needs no pytz)
        for sample in SAMPLES:
            conn.execute(sample).pl()
        summary = f"rows={rows['rows'][0]}"
    else:
        os.environ["DQ_SOURCE_LAKE_URL"] = str(LAKE)
        os.environ["DQ_FAILING_ROWS_SAMPLE"] = str(CAP)
        pushdown = "spark" if mode == "engine-spark" else "duckdb"
        report = evaluate_suite(suite(), {"lake": Source("lake", kind="parquet", pushdown=pushdown)}, now=NOW)
        failed = sorted(r.rule_name for r in report.results if r.status.value != "PASSED")
        summary = f"status={report.status} not passed: {failed}"
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"mode": mode, "seconds": seconds, "peak_mb": peak_mb, "summary": summary, **extra}


def run_child(mode: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", mode], check=True, capture_output=True, text=True,
                         cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--spark", action="store_true", help="also Spark local mode (no target)")
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child)))
        return
    build(args.rows)
    modes = ["limit-duckdb", "engine-duckdb"] + (["engine-spark"] if args.spark else [])
    runs: dict[str, list[dict]] = {m: [] for m in modes}
    for _ in range(args.repeat):  # interleaved, so a busy moment hits every mode
        for mode in modes:
            runs[mode].append(run_child(mode))
    limit = statistics.median(r["seconds"] for r in runs["limit-duckdb"])
    limit_mb = statistics.median(r["peak_mb"] for r in runs["limit-duckdb"])
    for mode in modes:
        seconds = statistics.median(r["seconds"] for r in runs[mode])
        peak = statistics.median(r["peak_mb"] for r in runs[mode])
        print(f"{mode:14s} {seconds:7.2f} s ({seconds / limit:.2f}x)  peak {peak:7.0f} MB ({peak / limit_mb:.2f}x)  "
              f"{runs[mode][-1]['summary']}" + (f"  session start {runs[mode][-1]['session_start_s']} s"
                                                  if "session_start_s" in runs[mode][-1] else ""))
    print(f"target: engine-duckdb within 1.15x of limit-duckdb; {args.rows:,} rows, 3 of 10 rules failing")


if __name__ == "__main__":
    main()
