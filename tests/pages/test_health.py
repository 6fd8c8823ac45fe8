import json
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from console import wording
from store import db, schema
from tests import seed
from tests.seed import NOW, ago

PAGE = "pages/health.py"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(sqlite_store: str) -> None:
    seed.rule()
    for status in ["PASSED"] * 9 + ["ERROR"]:
        seed.checked(status=status, at=ago(hours=3))
    seed.checked(status="PASSED", at=ago(days=3))  # only in the 7-day window
    acked = seed.violation(status="acknowledged", acknowledged_at=ago(hours=1))
    seed.alert(acked, sent_at=ago(hours=1, minutes=6))
    seed.heartbeat(started_at=ago(days=2), beat_at=ago(seconds=10))


def _metrics(at) -> dict[str, tuple[str, str]]:
    return {m.label: (m.value, m.delta) for m in at.metric}


def _real_beat(seconds_ago: float, status: str = "running", host: str = "elsewhere", pid: int = 1) -> None:
    """The scheduler box reads the database's clock, not DQ_NOW: a heartbeat in real time."""
    at = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    with db.write() as conn:
        conn.execute(schema.scheduler_heartbeats.delete())
        conn.execute(schema.scheduler_heartbeats.insert().values(
            scheduler_id="host:1", host=host, pid=pid, started_at=at - timedelta(hours=1), beat_at=at, status=status))


def test_kpis_with_targets_and_state(store, open_page) -> None:
    at = open_page(PAGE)
    found = _metrics(at)
    assert found["Check success rate"] == ("90.00%", "off target")
    assert found["Check pass rate"] == ("90.00%", "no target")
    assert found["Alert response time"] == ("6.0 min", "on target")
    assert found["Scheduler availability"][0] == "99.99%"
    assert found["Data freshness"] == ("no data", "no data")
    assert "target > 95%" in [c.value for c in at.caption]
    assert len(found) == 9


def test_window_changes_the_figures(store, open_page) -> None:
    at = open_page(PAGE)
    at.segmented_control(key="window").set_value("Last 7 days").run()
    assert _metrics(at)["Check success rate"][0] == "90.91%"


def test_panels_are_drawn(store, open_page) -> None:
    at = open_page(PAGE)
    subheaders = [s.value for s in at.subheader]
    assert subheaders == ["Check success rate", "Violations by severity", "Top failing rules",
                          "Check duration", "Alert response times", "Queue length"]
    assert not at.exception
    specs = [json.loads(chart.proto.spec) for chart in at.get("echarts_chart")]
    # ECharts, not Plotly: Plotly's 4.7 MB script per tab made this the slowest page in the browser
    assert [s["series"][0]["type"] for s in specs] == ["line", "bar", "scatter", "gauge"]
    assert "No violations detected in this window." in [i.value for i in at.info]  # no pie: said why
    success, durations, responses, queue = specs
    assert success["useUTC"] and success["xAxis"]["type"] == "time"  # the whole window, read in UTC
    assert success["xAxis"]["max"] - success["xAxis"]["min"] == 24 * 3600 * 1000
    assert success["series"][0]["data"][0][1] == 90.0
    assert sum(durations["series"][0]["data"]) == 10  # every run finished in the window, in one bin or another
    assert [(s["name"], s["data"][0][1]) for s in responses["series"]] == [("HIGH", 6.0)]
    assert queue["series"][0]["data"] == [{"value": 0, "name": "pending run requests"}]


def test_the_severity_pie_is_coloured_by_severity(sqlite_store: str, open_page) -> None:
    for severity in ("INFO", "CRITICAL", "HIGH", "CRITICAL"):
        seed.violation(severity=severity, detected_at=ago(hours=2))
    specs = [json.loads(chart.proto.spec)["series"][0] for chart in open_page(PAGE).get("echarts_chart")]
    [pie] = [s for s in specs if s["type"] == "pie"]
    assert [(d["name"], d["value"], d["itemStyle"]["color"]) for d in pie["data"]] == [
        ("CRITICAL", 2, wording.SEVERITY_COLORS["CRITICAL"]), ("HIGH", 1, wording.SEVERITY_COLORS["HIGH"]),
        ("INFO", 1, wording.SEVERITY_COLORS["INFO"])]


def test_the_freshness_tile_names_the_stalest_table(sqlite_store: str, open_page) -> None:
    seed.checked("revenue_fresh", at=ago(hours=1), check_type="freshness", observed_value=5 * 3600.0,
                 suite="gold.daily_revenue")
    at = open_page(PAGE)
    assert _metrics(at)["Data freshness"] == ("5.0 h", "off target")
    assert "target < 2 h · stalest: gold.daily_revenue (revenue_fresh)" in [c.value for c in at.caption]


@pytest.mark.parametrize(("seconds_ago", "status", "alive"), [
    (1, "running", True),
    (4, "running", True),  # DQ_HEARTBEAT_SECONDS=5, plus 2 s of slack (and the page's own run time)
    (7.5, "running", False),  # one beat missed: red within one interval
    (1, "stopped", False),  # a clean stop: red at once
])
def test_the_scheduler_box_turns_red_within_one_heartbeat(sqlite_store: str, open_page, seconds_ago: float,
                                                          status: str, alive: bool) -> None:
    _real_beat(seconds_ago, status)
    at = open_page(PAGE)
    green = [s.value for s in at.success if "Scheduler" in s.value]
    red = [e.value for e in at.error if "Scheduler" in e.value]
    assert (bool(green), bool(red)) == (alive, not alive), (green, red)
    if not alive:
        assert "Hint:" in red[0]


def test_a_killed_scheduler_on_this_host_is_red_at_once(sqlite_store: str, open_page) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid that no longer exists
    _real_beat(1, host=socket.gethostname(), pid=gone.pid)
    at = open_page(PAGE)
    assert any("DOWN (its process is gone" in e.value for e in at.error)


def test_page_cli_and_health_json_agree(store, open_page) -> None:
    seed.checked("revenue_fresh", at=ago(hours=1), check_type="freshness", observed_value=3 * 3600.0)
    shown = {label: value for label, (value, _) in _metrics(open_page(PAGE)).items()}
    env = {**os.environ, "DQ_NOW": NOW.isoformat()}

    def manage(*args: str) -> dict:
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)
        return json.loads(done.stdout)

    report = manage("report", "daily", "--format", "json")["kpis"]
    health = manage("health")["kpis"]
    assert [k["value"] for k in report] == [k["value"] for k in health]
    assert {k["label"]: k["value"] for k in report}.keys() == shown.keys()
    from store.kpis import Kpi
    assert {k["label"]: Kpi(**k).shown() for k in health} == shown
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.scheduler_uptime)).scalar() == 1
