"""deploy/: the alert rules pass promtool (syntax and their unit tests), the dashboard carries the runbook's six panels."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RUNBOOK_PANELS = {  # the runbook's "Grafana Dashboard Panels", with the panel type each one names
    "DQ Check Success Rate": "timeseries",
    "Violations by Severity": "piechart",
    "Top Failing Rules": "table",
    "Check Execution Duration": "bargauge",
    "Alert Response Times": "timeseries",
    "Worker Queue Length": "gauge",
}


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool is required: apt-get install prometheus (scripts/test.sh does it)"
    return subprocess.run([binary, *args], capture_output=True, text=True, cwd=DEPLOY / "prometheus", timeout=60)


@pytest.mark.parametrize("args", [("check", "rules", "alerts.yml"), ("test", "rules", "alerts.test.yml"),
                                  ("check", "config", "prometheus.yml")])
def test_promtool_accepts_the_rules_their_unit_tests_and_the_config(args: tuple[str, ...]) -> None:
    done = _promtool(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr


def test_promtool_would_catch_a_broken_rule(tmp_path: Path) -> None:
    broken = (DEPLOY / "prometheus" / "alerts.yml").read_text().replace("})) > 10", "})) > > 10", 1)
    (tmp_path / "alerts.yml").write_text(broken)
    binary = shutil.which("promtool")
    assert binary
    done = subprocess.run([binary, "check", "rules", str(tmp_path / "alerts.yml")], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "DQCheckFailureRateHigh\": could not parse expression" in (done.stdout + done.stderr)


def test_the_runbook_alerts_are_there_with_their_conditions() -> None:
    text = (DEPLOY / "prometheus" / "alerts.yml").read_text()
    for name, duration in {"DQCheckFailureRateHigh": "5m", "DQCriticalRuleFailed": "1m",
                           "DQHighRuleCouldNotRun": "5m", "DQSchedulerHeartbeatStale": "2m"}.items():
        block = text.split(f"- alert: {name}", 1)[1].split("- alert:", 1)[0]
        assert f"for: {duration}" in block, name


def test_the_dashboard_has_the_runbooks_six_panels_on_one_datasource() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "dq-dashboard.json").read_text())
    assert {p["title"]: p["type"] for p in dashboard["panels"]} == RUNBOOK_PANELS
    assert [i["name"] for i in dashboard["__inputs"]] == ["DS_PROMETHEUS"]
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}"
            assert re.search(r"\bdq_[a-z_]+", target["expr"]), target["expr"]
    # tests/scheduler/test_metrics.py runs every one of these queries against a real Prometheus.
