"""Benchmark: how long `seed_demo` takes to generate and write the demo warehouse, per phase.

Usage: python bench/demo_build.py [--rows-scale X] [--repeat N]
Prints generate / write / total seconds and rows per second; the target is under 15 s at scale 1.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ops import demo  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows-scale", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    spec = demo.DemoSpec(scale=args.rows_scale, anchor=demo.anchor_of(datetime.now(UTC)))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / demo.FILE_NAME
        for run in range(1, args.repeat + 1):
            started = time.perf_counter()
            tables = demo.build_tables(spec)
            generated = time.perf_counter()
            demo.write_sqlite(path, tables)
            done = time.perf_counter()
            rows = sum(t.height for t in tables.values())
            print(f"run {run}: scale {args.rows_scale:g}, {rows:,} rows, generate {generated - started:.2f} s, "
                  f"write {done - generated:.2f} s, total {done - started:.2f} s "
                  f"({rows / (done - started):,.0f} rows/s, {path.stat().st_size / 1e6:.0f} MB)")


if __name__ == "__main__":
    main()
