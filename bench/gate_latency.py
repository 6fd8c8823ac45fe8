"""How long the DQ gate takes to decide from a recent run, with and without a bypass to verify.

Measures `ops.gate.run_gate(..., max_age_minutes=...)` in-process (what a pipeline waits for
beyond Python start-up) and one `python manage.py dq_gate` subprocess end to end, on a fresh
SQLite store in a temporary folder. Usage: `python bench/gate_latency.py [--repeat 200]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _setup(folder: Path) -> None:
    os.environ["DQ_DATA_DIR"] = str(folder)
    os.environ["DQ_STORE_URL"] = f"sqlite:///{folder / 'dq_store.db'}"
    from ops.roles import user
    from store import bypass, migrations
    from tests.bypass_rows import add_run, add_suite, checklist

    migrations.migrate()
    for name in ("silver.orders", "silver.returns"):
        add_suite(name, "silver")
        add_run(name, [(f"{name}_rule_{i}", "HIGH" if i == 0 else "LOW", "FAILED") for i in range(20)])
    request_id = bypass.create_request(user("oncall@company.com"), checklist("silver.orders"))
    bypass.approve(user("data-eng-lead@company.com"), request_id)


def _time(fn, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def _report(name: str, samples: list[float]) -> None:
    samples.sort()
    p95 = samples[int(len(samples) * 0.95) - 1]
    print(f"{name:<46} median {statistics.median(samples):7.2f} ms   p95 {p95:7.2f} ms   n={len(samples)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        _setup(Path(folder))
        from ops import gate

        config = gate.GateConfig()
        _report("blocked, no override (in-process)", _time(
            lambda: gate.run_gate("silver.returns", max_age_minutes=60, config=config), args.repeat))
        _report("passed by a verified bypass (in-process)", _time(
            lambda: gate.run_gate("silver.orders", bypass_flag=True, max_age_minutes=60, config=config), args.repeat))
        command = [sys.executable, str(ROOT / "manage.py"), "dq_gate", "--suite", "silver.orders", "--bypass",
                   "--max-age", "60"]
        _report("`manage.py dq_gate --bypass` (subprocess)", _time(
            lambda: subprocess.run(command, capture_output=True, check=True, env=os.environ), max(5, args.repeat // 20)))


if __name__ == "__main__":
    main()
