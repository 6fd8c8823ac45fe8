import json

import pytest

from store import review
from tests import seed
from tests.seed import NOW, ago


@pytest.fixture
def reviewed(store_url: str) -> review.WeeklyReview:
    seed.suite()
    seed.suite(name="gold.revenue", source="finance", layer="gold", owner=None)
    seed.suite(name="bronze.raw_events", source="warehouse", layer="bronze")
    seed.rule()  # fails sometimes
    seed.rule(name="orders_amount_between", check_type="between")  # never fails, large table
    seed.rule(name="revenue_positive", suite="gold.revenue", source="finance", owner=None, use_sampling=True)
    seed.rule(name="raw_disabled", suite="bronze.raw_events", enabled=False)
    for hours, status in ((1, "FAILED"), (2, "PASSED"), (3, "FAILED"), (24 * 10, "FAILED")):
        seed.checked(status=status, at=ago(hours=hours), rows_tested=10)
    seed.checked("orders_amount_between", at=ago(hours=1), rows_tested=80_000)
    seed.checked("revenue_positive", at=ago(hours=1), suite="gold.revenue", rows_tested=90_000)
    opened = seed.violation(detected_at=ago(hours=1))
    seed.violation(detected_at=ago(hours=2))
    seed.violation(rule_name="revenue_positive", suite="gold.revenue", detected_at=ago(days=20))
    seed.alert(opened, sent_at=ago(hours=1))
    return review.weekly_review(now=NOW)


def test_failure_rates(reviewed: review.WeeklyReview) -> None:
    assert reviewed.failure_7d.select("rule_name", "failed", "results", "failure_rate").rows() == [
        ("orders_id_not_null", 2, 3, 66.67)]
    assert reviewed.failure_30d.filter(reviewed.failure_30d["rule_name"] == "orders_id_not_null")["failed"].item() == 3


def test_coverage_and_gaps(reviewed: review.WeeklyReview) -> None:
    assert reviewed.coverage_by_source.rows() == [("finance", 1, 1, 1), ("warehouse", 2, 2, 1)]
    assert reviewed.coverage_by_layer["layer"].to_list() == ["bronze", "gold", "silver"]
    assert reviewed.tables_without_rules["suite"].to_list() == ["bronze.raw_events"]


def test_noise_never_failing_and_sampling(reviewed: review.WeeklyReview) -> None:
    assert reviewed.noisy_rules.select("rule_name", "violations", "alerts_sent").rows() == [
        ("orders_id_not_null", 2, 1)]
    assert reviewed.never_failing["name"].to_list() == ["orders_amount_between", "revenue_positive"]
    assert reviewed.unsampled_large.select("name", "rows_tested").rows() == [("orders_amount_between", 80_000)]


def test_unacknowledged_by_owner_and_json(reviewed: review.WeeklyReview) -> None:
    assert reviewed.unacknowledged_by_owner.select("owner", "open_violations").rows() == [
        ("orders-team@company.com", 2), ("(no owner)", 1)]
    body = json.loads(reviewed.to_json())
    assert set(body) == {*review.WeeklyReview.SECTIONS, "generated_at"}


# --- by rule id (issue 13, deliverable 8) -------------------------------------------------------

MANIFEST = """\
suite: silver.orders
source: warehouse
table: orders
layer: silver
rules:
  - {{name: {name}, check: not_null, column: id, severity: {severity}{extra}}}
"""


def _load(rules_dir, name: str, severity: str, extra: str = "") -> None:
    from engine.manifest import load_catalog
    from store import db
    from store.rules import sync_catalog

    (rules_dir / "orders.yaml").write_text(MANIFEST.format(name=name, severity=severity, extra=extra))
    with db.write() as conn:
        sync_catalog(conn, load_catalog([rules_dir], default_sources=rules_dir / "sources.yaml"), "test")


def test_a_re_severitied_and_renamed_rule_keeps_one_row_with_its_whole_history(store_url: str, tmp_path, monkeypatch) -> None:
    """Measured: after a severity change the rule was listed twice, once as "never failed" despite its failures."""
    import sqlite3
    from datetime import timedelta

    from ops.run_checks import run_suite

    warehouse = tmp_path / "wh.db"
    with sqlite3.connect(warehouse) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER)")
        conn.execute("INSERT INTO orders VALUES (NULL)")
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "sources.yaml").write_text("sources:\n  warehouse: {kind: sql}\n")
    monkeypatch.setenv("DQ_RULES_DIR", str(rules_dir))
    monkeypatch.setenv("DQ_SOURCE_WAREHOUSE_URL", f"sqlite:///{warehouse}")
    start = NOW - timedelta(days=3)

    def run_at(hours: float) -> None:
        monkeypatch.setenv("DQ_NOW", (start + timedelta(hours=hours)).isoformat())
        run_suite("silver.orders")

    monkeypatch.setenv("DQ_NOW", start.isoformat())
    _load(rules_dir, "orders_id_not_null", "HIGH")
    run_at(1)
    run_at(2)  # 2 x FAILED as HIGH
    _load(rules_dir, "orders_id_not_null", "CRITICAL")
    with sqlite3.connect(warehouse) as conn:
        conn.execute("UPDATE orders SET id = 1")
    run_at(3)  # PASSED as CRITICAL
    _load(rules_dir, "orders_id_present", "CRITICAL", extra=", renamed_from: orders_id_not_null")
    run_at(4)  # PASSED under the new name
    with sqlite3.connect(warehouse) as conn:
        conn.execute("INSERT INTO orders VALUES (NULL)")
    run_at(5)  # FAILED under the new name

    reviewed = review.weekly_review(now=NOW)
    assert reviewed.failure_7d.select("rule_name", "suite", "severity", "results", "failed", "failure_rate").rows() == [
        ("orders_id_present", "silver.orders", "CRITICAL", 5, 3, 60.0)]
    assert reviewed.failure_30d["rule_name"].to_list() == ["orders_id_present"]
    assert reviewed.never_failing.height == 0
    assert reviewed.noisy_rules.select("rule_name", "severity", "violations").rows() == [
        ("orders_id_present", "CRITICAL", 2)]
    assert reviewed.unacknowledged_by_owner.select("owner", "open_violations").rows() == [("(no owner)", 1)]


def test_rules_without_sampling_use_the_runbooks_rule_and_the_rows_read(store_url: str) -> None:
    seed.suite()
    seed.rule(name="configured_big", sample_size=60_000)  # runbook: sample_size__gt=50000, use_sampling=False
    seed.rule(name="reads_big")  # no sample_size, but read 80,000 rows
    seed.rule(name="both_big", sample_size=70_000)
    seed.rule(name="sampled_big", sample_size=90_000, use_sampling=True)  # sampling: fine
    seed.rule(name="small", sample_size=50_000)  # not greater than 50,000
    seed.checked("reads_big", at=ago(hours=1), rows_tested=80_000)
    seed.checked("both_big", at=ago(hours=1), rows_tested=75_000)
    seed.checked("small", at=ago(hours=1), rows_tested=10)
    unsampled = review.weekly_review(now=NOW).unsampled_large
    assert unsampled.select("name", "sample_size", "rows_tested", "why").rows() == [
        ("reads_big", None, 80_000, "rows read"),
        ("both_big", 70_000, 75_000, "sample_size and rows read"),
        ("configured_big", 60_000, None, "sample_size"),
    ]
