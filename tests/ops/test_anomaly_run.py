"""Anomaly rules end to end through run_suite: backfill, violation with the band, auto-resolve, not enough history."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.manifest import load_catalog
from ops import health
from ops.run_checks import run_suite
from store import db, kpis, metrics
from store.results import rule_ids
from store.schema import results, runs, violations
from tests.conftest import connectorx_url

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday: the newest complete day is Sunday 1 March
INCIDENT_DAY = datetime(2026, 3, 1, tzinfo=UTC)
WEEKDAY_ROWS, WEEKEND_ROWS = 200, 80

SUITE = """\
suite: silver.events
source: warehouse
table: events
layer: silver
rules:
  - name: events_daily_volume
    check: anomaly
    metric: rows_per_bucket
    timestamp_column: created_at
    bucket: 1d
    severity: HIGH
    anomaly: {seasonality: day_of_week, min_relative_change: 0.2}
"""


def _volume(day: datetime, noise: random.Random) -> int:
    base = WEEKEND_ROWS if day.weekday() >= 5 else WEEKDAY_ROWS
    return round(base * (1 + noise.uniform(-0.03, 0.03)))


def _rows(day: datetime, count: int) -> list[dict]:
    step = timedelta(days=1) / count
    return [{"created_at": (day + step * i).replace(tzinfo=None)} for i in range(count)]


@pytest.fixture(params=["sqlite", "postgresql"])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path, sqlite_store: str,
              monkeypatch: pytest.MonkeyPatch) -> sa.Engine:
    """A table of events with 9 weeks of weekly-seasonal daily volume, and a collapse on Sunday 1 March."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'wh.db'}"
        source_url = url
    else:
        url = request.getfixturevalue("pg_url")
        source_url = connectorx_url(url)
    warehouse = events_warehouse(url)
    rules = rules_folder(tmp_path)
    for name, value in {"DQ_RULES_DIR": str(rules), "DQ_SOURCE_WAREHOUSE_URL": source_url,
                        "DQ_NOW": T0.isoformat()}.items():
        monkeypatch.setenv(name, value)
    load_rules(rules)
    yield warehouse
    warehouse.dispose()


def events_warehouse(url: str) -> sa.Engine:
    warehouse = sa.create_engine(url)
    noise = random.Random(7)
    table = sa.Table("events", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("created_at", sa.DateTime))
    table.create(warehouse)
    rows = []
    for back in range(63, 1, -1):
        day = INCIDENT_DAY - timedelta(days=back - 1)
        rows += _rows(day, _volume(day, noise))
    rows += _rows(INCIDENT_DAY, 10)
    with warehouse.begin() as conn:
        conn.execute(table.insert(), rows)
    return warehouse


def rules_folder(tmp_path: Path, suite: str = SUITE) -> Path:
    rules = tmp_path / "rules"
    rules.mkdir(exist_ok=True)
    (rules / "sources.yaml").write_text("sources:\n  warehouse: {kind: sql}\n")
    (rules / "events.yaml").write_text(suite)
    return rules


def load_rules(rules: Path) -> None:
    from store.rules import sync_catalog

    with db.write() as conn:
        sync_catalog(conn, load_catalog([rules], default_sources=rules / "sources.yaml"), "test")


def _violations() -> list:
    with db.read() as conn:
        return conn.execute(sa.select(violations).order_by(violations.c.id)).mappings().all()


def test_a_backfilled_rule_raises_a_violation_with_the_band_then_resolves(
        warehouse: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = run_suite("silver.events")

    [result] = summary.report.results
    assert result.status.value == "FAILED", result.message
    assert "rows 10 vs expected " in result.message and "(Sundays, 8 weeks)" in result.message
    lower, upper = result.metrics["lower"], result.metrics["upper"]
    assert 10 < lower < WEEKEND_ROWS * 0.97 and WEEKEND_ROWS * 1.03 < upper < WEEKDAY_ROWS
    assert result.metrics["trained_points"] >= 50 and result.metrics["crossed"] == "lower"
    [violation] = _violations()
    assert (violation["status"], violation["rule_name"], violation["severity"]) == ("open", "events_daily_volume", "HIGH")
    assert violation["message"] == result.message

    # Monday's load arrives in full; on Tuesday the newest complete day is back in its band.
    noise = random.Random(11)
    monday = INCIDENT_DAY + timedelta(days=1)
    with warehouse.begin() as conn:
        conn.execute(sa.text("INSERT INTO events (created_at) VALUES (:created_at)"), _rows(monday, _volume(monday, noise)))
    monkeypatch.setenv("DQ_NOW", (T0 + timedelta(days=1)).isoformat())
    [result] = run_suite("silver.events").report.results

    assert result.status.value == "PASSED", result.message
    assert "(Mondays, 8 weeks)" in result.message
    [violation] = _violations()
    assert (violation["status"], violation["resolution"]) == ("resolved", "auto")
    with db.read() as conn:
        rule_id = rule_ids(conn, ["events_daily_volume"])["events_daily_volume"]
        history = metrics.history(conn, rule_id, "rows_per_bucket", "silver.events")
    incident = history.filter(history["at"] == INCIDENT_DAY).row(0, named=True)
    assert (incident["value"], incident["excluded"], incident["reason"]) == (10, True, f"violation #{violation['id']}")
    assert history.filter(history["origin"] == "backfill").height == 62  # the days before the first judged one


def test_backfill_is_idempotent_and_bounded(warehouse: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DQ_ANOMALY_BACKFILL_BUCKETS", "20")
    run_suite("silver.events")
    with db.read() as conn:
        rule_id = rule_ids(conn, ["events_daily_volume"])["events_daily_volume"]
        first = metrics.history(conn, rule_id, "rows_per_bucket", "silver.events")
    run_suite("silver.events")
    with db.read() as conn:
        again = metrics.history(conn, rule_id, "rows_per_bucket", "silver.events")

    assert first.filter(first["origin"] == "backfill").height == 20
    assert again.height == first.height == 21  # the judged day once, however often it is judged


def test_a_new_rule_without_a_timestamp_has_not_enough_history(
        warehouse: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load_rules(rules_folder(tmp_path, SUITE.replace("metric: rows_per_bucket", "metric: row_count")
                            .replace("    timestamp_column: created_at\n    bucket: 1d\n", "")))
    summary = run_suite("silver.events")

    [result] = summary.report.results
    assert result.status.value == "NO_HISTORY"
    assert "not enough history to judge (0 training points)" in result.message
    assert summary.report.status.value == "PASSED"  # the run itself is complete: health does not call it stale
    assert _violations() == []
    with db.read() as conn:
        stored = conn.execute(sa.select(results.c.status)).scalars().all()
        run_status = conn.execute(sa.select(runs.c.status)).scalar_one()
    assert (stored, run_status) == (["NO_HISTORY"], "PASSED")
    with db.read() as conn:  # neither a pass nor a failure: no pass rate at all from it
        assert kpis.pass_rate(conn, kpis.Window.last(24)).value is None
        assert kpis.success_rate(conn, kpis.Window.last(24)).value is None
    problems = health.check().problems  # unhealthy only for the missing scheduler, never for the rule
    assert not [p for p in problems if "silver.events" in p or "events_daily_volume" in p], problems


WATCHED_ROW_COUNT = """\
suite: silver.events
source: warehouse
table: events
layer: silver
rules:
  - name: events_rows
    check: row_count
    min: 1
    severity: MEDIUM
    anomaly: {seasonality: none, min_training_points: 5}
"""


def test_an_anomaly_block_turns_a_passing_rule_into_a_violation(
        warehouse: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load_rules(rules_folder(tmp_path, WATCHED_ROW_COUNT))
    with db.write() as conn:
        rule_id = rule_ids(conn, ["events_rows"])["events_rows"]
        for back, rows in enumerate([2_010, 1_990, 2_000, 2_030, 1_970, 2_005, 1_995], start=1):
            at = T0 - timedelta(days=back)
            metrics.record_point(conn, rule_id, "observed", at, float(rows), recorded_at=at)
    [result] = run_suite("silver.events").report.results

    assert result.status.value == "FAILED", result.message
    assert result.message.startswith("events must have at least 1 rows: observed 10,331; anomaly: rows 10,331 vs expected ")
    assert result.message.endswith("(all, 6 days).") and result.metrics["anomaly"]["crossed"] == "upper"
    [violation] = _violations()
    assert violation["check_type"] == "row_count" and violation["status"] == "open"
