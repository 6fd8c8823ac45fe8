"""Every `python manage.py` command of the two runbooks, exactly as the runbook prints it, on the demo.

Each command runs through bash in a scratch folder (where the runbook's output files land), with
`python` on PATH and the demo built by `seed_demo`, loaded from rules/ and run once, as
`scripts/start.sh` leaves it. Two placeholders of the runbook are filled in and named below:
`manifest.yaml` (its "Create rule manifest file" step) defines `new_rule`, and the "Updating
Existing Rules" placeholder `"rule_name"` is that rule. `curl -f http://api/v1/dq/health/` is
tests/scheduler (the health endpoint of a running scheduler); `celery`, `redis-cli`, `systemctl`
and `pg_dump` are not ours (README: the runbooks' commands).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHIM = f"import runpy, sys\nsys.path.insert(0, {str(ROOT)!r})\nrunpy.run_path({str(ROOT / 'manage.py')!r}, run_name='__main__')\n"
NEW_RULE = """\
suite: silver.shipments_review
source: warehouse
table: silver_shipments
layer: silver
data_classes: []
owner: logistics-data@company.com
rules:
  - name: new_rule
    check: not_null
    column: shipment_id
    severity: LOW
"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("runbook")
    (folder / "manage.py").write_text(SHIM)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DQ_") or k.startswith("DQ_TEST_")}
    env.update({"DQ_DATA_DIR": str(folder / "data"), "DQ_SECRETS_FILE": str(folder / "no-secrets.toml"),
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"})
    for command in ("migrate", "seed_demo", "load_dq_rules rules/", "run_dq_checks --all"):
        done = subprocess.run(f"python {ROOT / 'manage.py'} {command}", shell=True, cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode in (0, 1), done.stderr
    return folder, env


def run(demo: tuple[Path, dict[str, str]], command: str) -> subprocess.CompletedProcess[str]:
    folder, env = demo
    return subprocess.run(["bash", "-c", command], cwd=folder, env=env, capture_output=True, text=True, timeout=300)


def test_critical_alert_step_2_runs_the_sales_check(demo: tuple[Path, dict[str, str]]) -> None:
    done = run(demo, 'python manage.py run_dq_checks --rule-name "sales_data_not_empty"')
    assert done.returncode == 0, done.stderr
    assert "sales_data_not_empty" in done.stdout and "PASSED" in done.stdout


def test_investigation_exports_the_last_days_violations(demo: tuple[Path, dict[str, str]]) -> None:
    done = run(demo, "python manage.py export_dq_data violations violations_last_hour.json --days=1")
    assert done.returncode == 0, done.stderr
    violations = json.loads((demo[0] / "violations_last_hour.json").read_text())
    assert {"orders_id_unique", "shipments_weight_range"} <= {v["rule_name"] for v in violations}
    assert {"CRITICAL", "HIGH"} <= {v["severity"] for v in violations}
    orders = next(v for v in violations if v["rule_name"] == "orders_id_unique")
    assert {k: orders[k] for k in ("table_name", "layer", "data_classes", "owner")} == {
        "table_name": "silver_orders", "layer": "silver", "data_classes": ["pii"], "owner": "data-eng-oncall@company.com"}
    assert orders["console_link"] == f"http://localhost:8501/violations?violation={orders['id']}"


def test_system_down_checks_connectivity_and_verifies_recovery(demo: tuple[Path, dict[str, str]]) -> None:
    done = run(demo, "python manage.py check")
    assert done.returncode == 0, done.stdout + done.stderr
    done = run(demo, 'python manage.py run_dq_checks --rule-name "test_rule" --async')
    assert done.returncode == 0, done.stderr
    assert "test_rule" in done.stdout and "queued" in done.stdout.lower()


def test_daily_and_weekly_run_exports(demo: tuple[Path, dict[str, str]]) -> None:
    for command, name in (("python manage.py export_dq_data runs runs_summary.json --days=1 --format=json", "runs_summary.json"),
                          ("python manage.py export_dq_data runs weekly_performance.json --days=7", "weekly_performance.json")):
        done = run(demo, command)
        assert done.returncode == 0, done.stderr
        runs = json.loads((demo[0] / name).read_text())
        assert runs and {"silver.orders", "gold.daily_revenue"} <= {r["suite"] for r in runs}


def test_adding_updating_and_backing_up_rules(demo: tuple[Path, dict[str, str]]) -> None:
    (demo[0] / "manifest.yaml").write_text(NEW_RULE)  # step 1: "Create rule manifest file"
    done = run(demo, "python manage.py load_dq_rules --dry-run manifest.yaml")
    assert done.returncode == 0, done.stderr
    assert "would add: new_rule [silver.shipments_review]" in done.stdout
    assert run(demo, "python manage.py load_dq_rules manifest.yaml").returncode == 0  # "Deploy"
    done = run(demo, 'python manage.py run_dq_checks --rule-name "new_rule"')
    assert done.returncode == 0, done.stderr
    assert "new_rule" in done.stdout and "PASSED" in done.stdout

    done = run(demo, 'python manage.py export_dq_data rules current_rule.json --rule-name "new_rule"')
    assert done.returncode == 0, done.stderr
    assert [r["name"] for r in json.loads((demo[0] / "current_rule.json").read_text())] == ["new_rule"]

    done = run(demo, "python manage.py export_dq_data manifest dq_rules_backup.yaml")
    assert done.returncode == 0, done.stderr
    done = run(demo, "python manage.py load_dq_rules dq_rules_backup.yaml")  # restore_dq_config.sh
    assert done.returncode == 0, done.stderr
    assert "added 0, changed 0, moved 0, disabled 0, restored 0" in done.stdout


def test_verify_restoration_dry_runs_everything(demo: tuple[Path, dict[str, str]]) -> None:
    done = run(demo, "python manage.py run_dq_checks --all --dry-run")
    assert done.returncode == 1, done.stderr  # the demo has failing rules on purpose
    assert "FAILED" in done.stdout and "sales_data_not_empty" in done.stdout
