"""Benchmark: what reading SQLite by declared type costs, against connectorx's plain read.

Builds the demo warehouse (scale 1, about 430k rows) in a temporary folder and reads the ten
checked columns of `silver_orders` (100k rows, three timestamp columns) both ways, then runs every
demo suite through the engine. Usage: python bench/sqlite_typed_read.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import connectorx as cx  # noqa: E402

from engine.evaluate import evaluate_suite  # noqa: E402
from engine.manifest import load_catalog  # noqa: E402
from engine.reader import ReadSpec, TableRef, reader_for  # noqa: E402
from engine.sources import Location  # noqa: E402
from ops import demo  # noqa: E402

COLUMNS = ("order_id", "customer_id", "customer_email", "status", "amount", "currency", "order_date",
           "order_ts", "shipped_at", "updated_at")
NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)


def best(repeat: int, run: object) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "demo.db"
        demo.seed_demo(path, now=NOW, scale=1)
        url = f"sqlite://{path}"
        plain_sql = f"SELECT {', '.join(COLUMNS)} FROM silver_orders"
        reader = reader_for(Location("warehouse", "sqlite", url))
        spec = ReadSpec(TableRef(None, "silver_orders"), COLUMNS)
        plain = best(args.repeat, lambda: cx.read_sql(url, plain_sql, return_type="arrow"))
        typed = best(args.repeat, lambda: reader.read(spec).frame.collect())
        os.environ["DQ_SOURCE_WAREHOUSE_URL"] = f"sqlite:///{path}"  # SQLAlchemy style: four slashes, absolute
        catalog = load_catalog([ROOT / "rules"])
        rules = sum(len(s.rules) for s in catalog.suites)
        reports: list = []
        suites = best(args.repeat, lambda: reports.append([evaluate_suite(s, catalog.sources, now=NOW)
                                                           for s in catalog.suites]))
        errors = sum(r.status.value == "ERROR" for report in reports[-1] for r in report.results)
        if errors:
            raise SystemExit(f"{errors} rules errored: {reports[-1][0].results[0].message}")
    print(f"silver_orders, 100,040 rows, {len(COLUMNS)} columns, best of {args.repeat}, {os.cpu_count()} CPUs")
    print(f"plain connectorx read        {plain:6.2f} s")
    print(f"engine read by declared type {typed:6.2f} s  ({typed / plain:.2f}x)")
    print(f"every demo suite, {rules} rules  {suites:6.2f} s")


if __name__ == "__main__":
    main()
