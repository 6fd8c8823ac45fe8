import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from store import kpis
from store.kpis import Window
from tests import seed
from tests.seed import NOW, ago

ROOT = Path(__file__).resolve().parents[2]


def manage(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DQ_NOW": NOW.isoformat()}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)


@pytest.fixture
def history(sqlite_store: str) -> str:
    seed.suite()
    seed.rule()
    seed.rule(name="orders_old", enabled=False)
    for status in ("PASSED", "FAILED", "ERROR"):
        seed.checked(status=status, at=ago(hours=2))
    seed.violation(detected_at=ago(hours=1))
    seed.heartbeat(started_at=ago(days=2), beat_at=ago(seconds=5))
    return sqlite_store


def test_daily_json_has_the_console_numbers(history: str) -> None:
    done = manage("report", "daily", "--format", "json")
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    console = {k.key: k.value for k in kpis.health_kpis(Window.last(24, NOW))}
    assert {k["key"]: k["value"] for k in body["kpis"]} == console
    assert body["runs_by_status"] == {"PASSED": 1, "FAILED": 1, "ERROR": 1}
    assert (body["rules_total"], body["rules_enabled"], body["unacknowledged_in_window"]) == (2, 1, 1)
    assert body["schedulers"][0]["scheduler_id"] == "host:1"


def test_daily_markdown(history: str) -> None:
    done = manage("report", "daily")
    assert done.returncode == 0, done.stderr
    assert "| Check success rate | 66.67% | > 95% | OFF TARGET |" in done.stdout
    assert "- Unacknowledged violations (24h): 1" in done.stdout
    assert "- Enabled rules: 1" in done.stdout


def test_weekly_markdown_and_json(history: str) -> None:
    md = manage("report", "weekly")
    assert md.returncode == 0, md.stderr
    assert "## Failure 7d" in md.stdout and "| orders_id_not_null | silver.orders | HIGH | 3 | 1 | 1 | 33.33 |" in md.stdout
    body = json.loads(manage("report", "weekly", "--format", "json").stdout)
    assert body["failure_7d"][0]["failure_rate"] == 33.33


@pytest.mark.parametrize(("args", "code", "message"), [
    (("report", "monthly"), 3, "invalid choice: 'monthly'"),
    (("report", "daily", "--format", "xml"), 3, "invalid choice: 'xml'"),
])
def test_bad_arguments(sqlite_store: str, args, code: int, message: str) -> None:
    done = manage(*args)
    assert (done.returncode, message in done.stderr) == (code, True), done.stderr


def test_unmigrated_store_is_a_clear_error(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DQ_STORE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    done = manage("report", "daily")
    assert done.returncode == 2 and "python manage.py migrate" in done.stderr and "Traceback" not in done.stderr
