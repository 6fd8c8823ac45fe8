"""examples/airflow/dq_gate_dag.py under real Airflow 3 (its own virtualenv, scripts/airflow_venv.sh):
`dag.test()` against the demo warehouse. The gate fails, so the downstream task never runs; with an
approved bypass and `bypass_dq=true` the gate passes and the downstream task runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ops.roles import user
from store import bypass
from tests.bypass_rows import checklist

ROOT = Path(__file__).resolve().parents[2]
DAG_FILE = ROOT / "examples" / "airflow" / "dq_gate_dag.py"
RUNNER = Path(__file__).with_name("airflow_runner.py")
pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def airflow_python() -> Path:
    done = subprocess.run(["bash", str(ROOT / "scripts" / "airflow_venv.sh")], capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, f"the Airflow virtualenv could not be created:\n{done.stderr[-3000:]}"
    return Path(done.stdout.strip().splitlines()[-1]) / "bin" / "python"


def _manage(*args: str) -> None:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def _dag_test(airflow_python: Path, airflow_home: Path, bypass_dq: str) -> dict[str, str]:
    env = {**os.environ, "AIRFLOW_HOME": str(airflow_home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__DAGS_FOLDER": str(DAG_FILE.parent), "DQ_HOME": str(ROOT), "DQ_PYTHON": sys.executable}
    done = subprocess.run([str(airflow_python), str(RUNNER), str(DAG_FILE), bypass_dq], env=env, cwd=airflow_home,
                          capture_output=True, text=True, timeout=600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("DAG-STATES ")]
    assert done.returncode == 0 and lines, done.stdout[-4000:] + done.stderr[-4000:]
    states = json.loads(lines[-1].removeprefix("DAG-STATES "))
    assert states["dag_id"] == "silver_shipments_publish"
    return {"run": states["run_state"], **states["tasks"]}


def test_the_gate_stops_the_downstream_task_until_a_bypass_is_approved(
        sqlite_store: str, tmp_path: Path, airflow_python: Path) -> None:
    _manage("seed_demo")
    _manage("load_dq_rules", "rules/")
    home = tmp_path / "airflow"
    home.mkdir()
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    migrated = subprocess.run([str(airflow_python.parent / "airflow"), "db", "migrate"], env=env,
                              capture_output=True, text=True, timeout=600)
    assert migrated.returncode == 0, migrated.stdout[-3000:] + migrated.stderr[-3000:]

    # The demo's silver.shipments has 9 negative weights: a HIGH rule fails, the gate exits 1.
    assert _dag_test(airflow_python, home, "false") == {
        "run": "failed", "dq_gate_silver": "failed", "publish_silver_shipments": "upstream_failed"}

    request_id = bypass.create_request(user("oncall@company.com"), checklist("silver.shipments", hours=6))
    bypass.approve(user("data-eng-lead@company.com"), request_id)
    assert _dag_test(airflow_python, home, "true") == {
        "run": "success", "dq_gate_silver": "success", "publish_silver_shipments": "success"}
