"""/metrics as Prometheus reads it: a real scheduler, parsed with prometheus_client.parser, then a
real Prometheus server scraping it, evaluating deploy/prometheus/alerts.yml and answering every
query of deploy/grafana/dq-dashboard.json."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from engine.manifest import load_catalog
from store import db, violations
from store.rules import sync_catalog
from store.schema import alerts
from tests.alerting.conftest import HttpReceiver, receiver  # noqa: F401 - the real HTTP receiver fixture
from tests.scheduler.helpers import ROOT, free_port, get, start_scheduler, wait_for

FAILING = 1_234_567  # the hand-written `{value:g}` printed this as 1.23457e+06

SUITES = {
    "silver_orders.yaml": """\
suite: silver_orders
source: warehouse
table: orders
layer: silver
schedule: "* * * * * */2"
rules:
  - {name: orders_id_not_null, check: not_null, column: id, severity: HIGH}
  - {name: orders_amount_not_null, check: not_null, column: amount, severity: LOW}
  - {name: orders_missing_column, check: not_null, column: no_such_column, severity: HIGH}
""",
    "gold_codes.yaml": """\
suite: gold_codes
source: warehouse
table: codes
layer: gold
schedule: "* * * * * */2"
rules:
  - {name: codes_code_not_null, check: not_null, column: code, severity: CRITICAL}
""",
}


def _warehouse(path: Path) -> str:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE orders (id INTEGER, amount REAL)")
    conn.executemany("INSERT INTO orders VALUES (?, ?)", [(1, 10.0), (2, 20.0), (None, 5.0)])
    conn.execute("CREATE TABLE codes (id INTEGER, code TEXT)")
    conn.execute(f"""WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {FAILING + 10})
                     INSERT INTO codes SELECT i, CASE WHEN i <= 10 THEN 'ok' END FROM n""")
    conn.commit()
    conn.close()
    return f"sqlite:///{path}"


def _load(rules: Path) -> None:
    rules.mkdir()
    (rules / "sources.yaml").write_text("sources:\n  warehouse: {kind: sql}\n")
    for name, text in SUITES.items():
        (rules / name).write_text(text)
    with db.write() as conn:
        sync_catalog(conn, load_catalog([rules], default_sources=rules / "sources.yaml"), "test", prune=True)


def _families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def _one(samples: list[Sample], name: str, **labels: str) -> float:
    found = [s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (name, labels, found)
    return found[0]


def _alert_sent_and_acknowledged() -> bool:
    with db.read() as conn:
        sent = conn.execute(sa.select(alerts.c.violation_id).where(alerts.c.sent_at.is_not(None),
                                                                   alerts.c.kind == "trigger")).scalars().all()
    if not sent:
        return False
    violations.acknowledge(sorted({v for v in sent if v is not None}), "ann@example.com", "on it")
    return True


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    binary = shutil.which("prometheus")
    assert binary, "Debian's prometheus package is required (apt-get install prometheus); scripts/test.sh installs it"
    yield Path(binary), free_port()


def _start_prometheus(binary: Path, port: int, target_port: int, tmp: Path) -> subprocess.Popen[bytes]:
    config = tmp / "prometheus.yml"
    shutil.copy(ROOT / "deploy" / "prometheus" / "alerts.yml", tmp / "alerts.yml")
    config.write_text(f"""\
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
rule_files: [alerts.yml]
scrape_configs:
  - job_name: dq-scheduler
    static_configs: [{{targets: ["127.0.0.1:{target_port}"]}}]
""")
    with (tmp / "prometheus.log").open("wb") as log:
        return subprocess.Popen([str(binary), f"--config.file={config}", f"--storage.tsdb.path={tmp / 'tsdb'}",
                                 f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)


def _query(port: int, expr: str) -> list[dict[str, Any]]:
    status, body = get(f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    answer = json.loads(body)
    assert status == 200 and answer["status"] == "success", (expr, body)
    return answer["data"]["result"]


def _grafana_to_promql(expr: str) -> str:
    return expr.replace("$__rate_interval", "20s").replace("$__range", "5m").replace("$__interval", "5s")


def test_the_scrape_is_real_prometheus_and_feeds_the_alerts_and_the_dashboard(
        sqlite_store: str, tmp_path: Path, receiver: HttpReceiver, prometheus: tuple[Path, int]) -> None:  # noqa: F811
    _load(tmp_path / "rules")
    env = {"DQ_RULES_DIR": str(tmp_path / "rules"), "DQ_SOURCE_WAREHOUSE_URL": _warehouse(tmp_path / "wh.db"),
           "DQ_WEBHOOK_URL": receiver.url + "/hook", "DQ_OPENLINEAGE_URL": receiver.url}
    proc = start_scheduler(tmp_path, "one", env)
    binary, prom_port = prometheus
    server = None
    try:
        wait_for("two runs of each suite", lambda: _one_total(_scrape(proc.url("/metrics"))) >= 4, process=proc)
        wait_for("an alert sent and acknowledged", _alert_sent_and_acknowledged, timeout=60, process=proc)
        status, text = get(proc.url("/metrics"))
        assert status == 200
        families = _families(text)

        # Counters of this process: _total with _created, by suite/trigger/status; they only go up.
        runs = families["dq_runs"]
        assert runs.type == "counter"
        assert {s.name for s in runs.samples} == {"dq_runs_total"}
        created = {tuple(sorted(s.labels.items())): s.value for s in families["dq_runs_created"].samples}
        assert created.keys() == {tuple(sorted(s.labels.items())) for s in runs.samples}
        assert all(time.time() - 300 < value <= time.time() for value in created.values())
        assert _one(runs.samples, "dq_runs_total", suite="silver_orders", trigger="schedule", status="ERROR") >= 1
        assert _one(families["dq_rule_results"].samples, "dq_rule_results_total",
                    suite="gold_codes", severity="CRITICAL", verdict="FAILED") >= 1
        # Real histograms: buckets, _count and _sum, the same count as the runs counted.
        duration = families["dq_run_duration_seconds"]
        assert duration.type == "histogram"
        count = _one(duration.samples, "dq_run_duration_seconds_count", suite="gold_codes")
        assert count == sum(s.value for s in runs.samples if s.name == "dq_runs_total" and s.labels["suite"] == "gold_codes")
        assert _one(duration.samples, "dq_run_duration_seconds_bucket", suite="gold_codes", le="+Inf") == count
        assert _one(duration.samples, "dq_run_duration_seconds_sum", suite="gold_codes") > 0
        assert families["dq_rule_duration_seconds"].type == "histogram"

        # Per rule, from the store, with exactly the bounded labels.
        rule = {"rule": "codes_code_not_null", "suite": "gold_codes", "source": "warehouse", "severity": "CRITICAL"}
        assert _one(families["dq_rule_failing_rows"].samples, "dq_rule_failing_rows", **rule) == FAILING
        assert "1.23457e+06" not in text  # every digit survives (Go's float format: 1.234567e+06)
        assert _one(families["dq_rule_last_verdict"].samples, "dq_rule_last_verdict", **rule, verdict="FAILED") == 1
        assert _one(families["dq_rule_last_verdict"].samples, "dq_rule_last_verdict", **rule, verdict="PASSED") == 0
        assert _one(families["dq_rule_last_verdict"].samples, "dq_rule_last_verdict",
                    rule="orders_missing_column", verdict="ERROR") == 1
        assert 0 <= _one(families["dq_rule_seconds_since_last_evaluation"].samples,
                         "dq_rule_seconds_since_last_evaluation", rule="orders_id_not_null") < 30
        # A rule that never evaluated has no "seconds since" at all, not -1.
        assert not [s for s in families["dq_rule_seconds_since_last_evaluation"].samples
                    if s.labels["rule"] == "orders_missing_column"]
        for family in ("dq_rule_failing_rows", "dq_rule_observed_value", "dq_rule_seconds_since_last_evaluation"):
            assert {tuple(sorted(s.labels)) for s in families[family].samples} == {("rule", "severity", "source", "suite")}

        # Per severity: every severity present, zero included.
        assert _one(families["dq_violations_open"].samples, "dq_violations_open", severity="CRITICAL") == 1
        assert _one(families["dq_violations_unacknowledged"].samples, "dq_violations_unacknowledged", severity="CRITICAL") == 0
        assert _one(families["dq_rules_error"].samples, "dq_rules_error", severity="HIGH") == 1
        assert _one(families["dq_rules_error"].samples, "dq_rules_error", severity="INFO") == 0
        assert _one(families["dq_alert_response_seconds"].samples, "dq_alert_response_seconds", quantile="0.5") >= 0
        assert _one(families["dq_scheduler_heartbeat_age_seconds"].samples, "dq_scheduler_heartbeat_age_seconds",
                    scheduler_id="one") < 5
        assert sum(s.value for s in families["dq_alerts"].samples if s.labels["channel"] == "webhook"
                   and s.labels["outcome"] == "sent") >= 1

        # The scheduler posts each of its check processes' runs to OpenLineage, and counts it.
        assert receiver.bodies("/api/v1/lineage")
        assert _one(families["dq_openlineage_events"].samples, "dq_openlineage_events_total", outcome="sent") >= 1

        # No sentinel anywhere.
        negative = [(s.name, s.labels, s.value) for f in families.values() for s in f.samples if s.value < 0]
        assert negative == []

        # A real Prometheus scrapes it, loads the alert rules and answers every dashboard query.
        server = _start_prometheus(binary, prom_port, proc.port, tmp_path)
        wait_for("Prometheus scraping the scheduler", lambda: _ready(prom_port) and
                 _query(prom_port, 'count_over_time(up{job="dq-scheduler"}[1m]) >= 6'), timeout=60, process=proc)
        dashboard = json.loads((ROOT / "deploy" / "grafana" / "dq-dashboard.json").read_text())
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                result = _query(prom_port, _grafana_to_promql(target["expr"]))
                assert result, f"panel {panel['title']!r}: no data for {target['expr']}"
        status, body = get(f"http://127.0.0.1:{prom_port}/api/v1/rules")
        groups = json.loads(body)["data"]["groups"]
        rules = {r["name"]: r for g in groups for r in g["rules"]}
        assert set(rules) == {"DQCheckFailureRateHigh", "DQCriticalRuleFailed", "DQHighRuleCouldNotRun", "DQSchedulerHeartbeatStale"}
        assert {name: r["health"] for name, r in rules.items()} == dict.fromkeys(rules, "ok")
        # 2 of the 4 rules fail or error right now (50% > 10%), and one HIGH rule cannot run: pending (for: 5m).
        assert rules["DQCheckFailureRateHigh"]["state"] == "pending"
        (could_not_run,) = rules["DQHighRuleCouldNotRun"]["alerts"]
        assert could_not_run["labels"]["rule"] == "orders_missing_column" and could_not_run["state"] == "pending"
        assert rules["DQCriticalRuleFailed"]["state"] == "inactive"  # acknowledged above
        assert rules["DQSchedulerHeartbeatStale"]["state"] == "inactive"
    finally:
        if server is not None:
            server.terminate()
            server.wait(20)
        assert proc.stop() == 0, proc.output()


def _scrape(url: str) -> str:
    try:
        return get(url)[1]
    except OSError:  # not listening yet
        return ""


def _one_total(text: str) -> float:
    return sum(s.value for f in text_string_to_metric_families(text) if f.name == "dq_runs" for s in f.samples
               if s.name == "dq_runs_total")


def _ready(port: int) -> bool:
    try:
        return get(f"http://127.0.0.1:{port}/-/ready")[0] == 200
    except OSError:
        time.sleep(0.2)
        return False
