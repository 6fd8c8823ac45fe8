"""The demo warehouse: deterministic, defects at exact counts, and demo rules with the intended verdicts."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from cli import main
from engine.checks import CHECKS, STATS
from engine.evaluate import evaluate_suite
from engine.manifest import load_catalog
from ops import demo
from tests.cli.helpers import ROOT, manage

NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
ANCHOR = datetime(2026, 3, 10, tzinfo=UTC)
RULES = ROOT / "rules"
LIFECYCLE = "('pending', 'paid', 'shipped', 'delivered', 'cancelled', 'refunded')"
EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"

# Each planted defect, counted by an independent query over the built file.
DEFECT_QUERIES = {
    "bronze_replayed_rows": "SELECT COUNT(*) - (SELECT COUNT(*) FROM (SELECT DISTINCT * FROM bronze_orders)) FROM bronze_orders",
    "bronze_bad_amounts": r"SELECT COUNT(*) FROM bronze_orders WHERE NOT matches('-?\d+\.\d{2}', amount_raw)",
    "orders_duplicate_ids": "SELECT COUNT(*) - COUNT(DISTINCT order_id) FROM silver_orders",
    "orders_null_emails": "SELECT COUNT(*) FROM silver_orders WHERE customer_email IS NULL",
    "orders_bad_emails": f"SELECT COUNT(*) FROM silver_orders WHERE NOT matches('{EMAIL}', customer_email)",
    "orders_unknown_status": f"SELECT COUNT(*) FROM silver_orders WHERE status NOT IN {LIFECYCLE}",
    "orders_negative_amounts": "SELECT COUNT(*) FROM silver_orders WHERE amount < 0",
    "orders_outlier_amounts": "SELECT COUNT(*) FROM silver_orders WHERE amount > 100000",
    "orders_orphan_customers": "SELECT COUNT(*) FROM silver_orders WHERE customer_id NOT IN (SELECT customer_id FROM silver_customers)",
    "orders_shipped_without_time": "SELECT COUNT(*) FROM silver_orders WHERE status IN ('shipped', 'delivered') AND shipped_at IS NULL",
    "orders_shipped_before_ordered": "SELECT COUNT(*) FROM silver_orders WHERE shipped_at < order_ts",
    "orders_schema_drift": "SELECT COUNT(legacy_discount) FROM silver_orders",
    "customers_null_emails": "SELECT COUNT(*) FROM silver_customers WHERE email IS NULL",
    "customers_bad_emails": f"SELECT COUNT(*) FROM silver_customers WHERE NOT matches('{EMAIL}', email)",
    "customers_shared_emails": "SELECT COUNT(email) - COUNT(DISTINCT email) FROM silver_customers",
    "customers_empty_names": "SELECT COUNT(*) FROM silver_customers WHERE full_name = ''",
    "customers_lowercase_country": "SELECT COUNT(*) FROM silver_customers WHERE country = 'us'",
    "customers_three_letter_country": "SELECT COUNT(*) FROM silver_customers WHERE length(country) <> 2",
    "customers_born_after_signup": "SELECT COUNT(*) FROM silver_customers WHERE birth_date >= signup_date",
    "payments_double_capture": "SELECT COUNT(*) - (SELECT COUNT(*) FROM (SELECT DISTINCT order_id, attempt FROM silver_payments)) FROM silver_payments",
    "payments_over_refund": "SELECT COUNT(*) FROM silver_payments WHERE refunded_amount > amount",
    "payments_bad_card_last4": "SELECT COUNT(*) FROM silver_payments WHERE method = 'card' AND length(card_last4) <> 4",
    "shipments_unknown_carrier": "SELECT COUNT(*) FROM silver_shipments WHERE carrier = 'UNKNOWN'",
    "shipments_negative_weight": "SELECT COUNT(*) FROM silver_shipments WHERE weight_kg < 0",
}

# The verdict every demo rule is meant to reach on the day the warehouse was built.
EXPECTED_VERDICTS = {
    "bronze_orders_not_empty": "PASSED", "bronze_orders_latest_load_volume": "FAILED",
    "bronze_orders_no_replayed_rows": "WARNED", "bronze_orders_amount_format": "WARNED",
    "bronze_orders_ingested_recently": "WARNED", "bronze_orders_id_present": "PASSED",
    "bronze_orders_source_file_name": "PASSED",
    "orders_id_unique": "FAILED", "orders_email_null_rate": "PASSED", "orders_email_format": "WARNED",
    "orders_status_known": "FAILED", "orders_currency_known": "PASSED", "orders_amount_range": "WARNED",
    "orders_amount_non_negative_latest": "PASSED", "orders_customer_exists": "FAILED",
    "orders_shipped_have_ship_time": "WARNED", "orders_ship_after_order": "FAILED", "orders_schema": "FAILED",
    "orders_updated_recently": "PASSED", "orders_row_count": "PASSED",
    "orders_daily_volume": "NO_HISTORY",  # the engine alone; run_suite judges it on its backfilled history
    "orders_mean_amount": "PASSED",
    "orders_amount_p99": "PASSED",
    "customers_id_unique": "PASSED", "customers_email_not_null": "WARNED", "customers_email_format": "FAILED",
    "customers_email_unique": "WARNED", "customers_name_null_rate": "PASSED", "customers_name_length": "WARNED",
    "customers_country_code_length": "WARNED", "customers_country_known": "FAILED",
    "customers_born_before_signup": "FAILED", "customers_updated_recently": "PASSED",
    "customers_row_count": "PASSED", "customers_schema": "PASSED",
    "payments_id_unique": "PASSED", "payments_order_attempt_unique": "FAILED", "payments_order_exists": "PASSED",
    "payments_no_duplicate_rows": "PASSED", "payments_amount_positive": "PASSED",
    "payments_refund_within_amount": "FAILED", "payments_method_known": "PASSED",
    "payments_status_known": "PASSED", "payments_card_last4_length": "WARNED", "payments_total_amount": "PASSED",
    "payments_amount_stddev": "PASSED", "payments_min_amount": "PASSED", "payments_max_amount": "PASSED", "payments_received_recently": "PASSED",
    "test_rule": "PASSED", "sales_data_not_empty": "PASSED",
    "shipments_id_unique": "PASSED", "shipments_order_exists": "PASSED", "shipments_carrier_known": "WARNED",
    "shipments_delivered_after_shipped": "PASSED", "shipments_weight_range": "FAILED",
    "shipments_tracking_format": "PASSED", "shipments_updated_recently": "PASSED",
    "revenue_built_recently": "FAILED", "revenue_key_unique": "PASSED", "revenue_date_present": "PASSED",
    "revenue_orders_plausible": "PASSED", "revenue_total": "PASSED", "revenue_row_count": "PASSED",
    "ltv_computed_recently": "WARNED", "ltv_customer_exists": "FAILED", "ltv_customer_unique": "PASSED",
    "ltv_segment_known": "PASSED", "ltv_median": "PASSED",
    "sla_built_recently": "PASSED", "sla_on_time_rate_range": "PASSED", "sla_mean_on_time_rate": "PASSED",
    "sla_late_within_delivered": "PASSED", "sla_shipments_reconcile_silver": "PASSED", "sla_carriers_reported": "PASSED",
    "orders_ship_times_recorded": "PASSED",
}


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    conn.create_function("matches", 2, lambda p, v: None if v is None else re.fullmatch(p, v) is not None)
    return conn


def _scalar(path: Path, sql: str) -> object:
    conn = _connect(path)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


def _tables(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    finally:
        conn.close()


def _table_hashes(path: Path) -> dict[str, str]:
    names = _tables(path)
    conn = sqlite3.connect(path)
    try:
        return {
            name: hashlib.sha256(repr(conn.execute(f'SELECT * FROM "{name}" ORDER BY rowid').fetchall()).encode()).hexdigest()
            for name in names
        }
    finally:
        conn.close()


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The standard demo (scale 1), built once for the module."""
    path = tmp_path_factory.mktemp("demo") / demo.FILE_NAME
    demo.seed_demo(path, now=NOW)
    yield path


def test_two_builds_are_byte_identical(tmp_path: Path) -> None:
    first, second, other_seed = tmp_path / "a.db", tmp_path / "b.db", tmp_path / "c.db"
    demo.seed_demo(first, now=NOW, scale=0.1)
    demo.seed_demo(second, now=NOW + timedelta(hours=5), scale=0.1)  # same UTC day, same anchor
    demo.seed_demo(other_seed, now=NOW, scale=0.1, seed=7)

    assert _table_hashes(first) == _table_hashes(second)
    assert first.read_bytes() == second.read_bytes()
    hashes = _table_hashes(first)
    changed = {name for name, digest in _table_hashes(other_seed).items() if hashes[name] != digest}
    assert {"silver_orders", "silver_customers", "silver_payments"} <= changed


def test_the_next_day_shifts_timestamps_but_keeps_the_rows(tmp_path: Path) -> None:
    today, tomorrow = tmp_path / "a.db", tmp_path / "b.db"
    demo.seed_demo(today, now=NOW, scale=0.1)
    demo.seed_demo(tomorrow, now=NOW + timedelta(days=1), scale=0.1)

    sql = "SELECT order_id, amount, status, customer_email FROM silver_orders ORDER BY rowid"
    assert sqlite3.connect(today).execute(sql).fetchall() == sqlite3.connect(tomorrow).execute(sql).fetchall()
    newest = "SELECT MAX(updated_at) FROM silver_orders"
    shift = datetime.fromisoformat(str(_scalar(tomorrow, newest))) - datetime.fromisoformat(str(_scalar(today, newest)))
    assert shift == timedelta(days=1)


@pytest.mark.parametrize("key", sorted(DEFECT_QUERIES))
def test_defects_are_planted_at_their_exact_counts(warehouse: Path, key: str) -> None:
    assert _scalar(warehouse, DEFECT_QUERIES[key]) == demo.DEFECTS[key].base_count


def test_every_defect_has_a_query_and_a_catching_rule() -> None:
    rules = {r.name for r in load_catalog([RULES]).rules}
    assert set(DEFECT_QUERIES) == set(demo.DEFECTS)
    assert {d.rule for d in demo.DEFECTS.values()} <= rules


def test_timestamps_are_offsets_from_the_anchor(warehouse: Path) -> None:
    assert _scalar(warehouse, "SELECT value FROM demo_build_info WHERE key = 'anchor'") == ANCHOR.isoformat()
    assert _scalar(warehouse, "SELECT MAX(built_at) FROM gold_daily_revenue") == "2026-03-05 02:10:00"
    assert _scalar(warehouse, "SELECT MAX(computed_at) FROM gold_customer_ltv") == "2026-03-07 01:00:00"
    assert _scalar(warehouse, "SELECT MAX(order_date) FROM silver_orders WHERE amount < 0 OR amount > 100000") < "2026-02-08"
    assert _scalar(warehouse, "SELECT COUNT(*) FROM bronze_orders WHERE ingest_date = '2026-03-09'") < 500
    for table, column in [("silver_orders", "updated_at"), ("silver_payments", "paid_at"),
                          ("silver_customers", "updated_at"), ("bronze_orders", "ingested_at")]:
        assert _scalar(warehouse, f"SELECT MAX({column}) FROM {table}") < "2026-03-10 00:00:00"


def test_the_warehouse_is_a_few_hundred_thousand_rows(warehouse: Path) -> None:
    counts = {name: _scalar(warehouse, f'SELECT COUNT(*) FROM "{name}"') for name in _tables(warehouse)}
    assert 300_000 <= sum(counts.values()) <= 600_000
    assert counts["silver_orders"] == demo.N_ORDERS + demo.DEFECTS["orders_duplicate_ids"].base_count


def test_rows_scale_grows_tables_and_defects_together(tmp_path: Path) -> None:
    path = tmp_path / "small.db"
    report = demo.seed_demo(path, now=NOW, scale=0.05)

    assert report.rows["silver_customers"] == 1_000
    assert report.rows["silver_orders"] == 5_000 + 2
    assert _scalar(path, DEFECT_QUERIES["orders_null_emails"]) == 100
    assert _scalar(path, DEFECT_QUERIES["customers_born_after_signup"]) == 1  # never rounded away


def _verdicts(warehouse: Path, monkeypatch: pytest.MonkeyPatch, at: datetime,
              only: set[str] | None = None) -> dict[str, str]:
    monkeypatch.setenv("DQ_DATA_DIR", str(warehouse.parent))
    catalog = load_catalog([RULES])
    verdicts = {}
    for suite in catalog.suites:
        names = [r.name for r in suite.rules if only is None or r.check in only]
        if names:
            report = evaluate_suite(suite, catalog.sources, rule_names=names, now=at)
            verdicts.update({r.rule_name: r.status.value for r in report.results})
    return verdicts


def test_the_demo_rules_reach_their_intended_verdicts(warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _verdicts(warehouse, monkeypatch, NOW) == EXPECTED_VERDICTS


def test_freshness_verdicts_hold_all_day(warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    late = ANCHOR + timedelta(hours=23, minutes=59)
    freshness = {n: v for n, v in EXPECTED_VERDICTS.items() if "recently" in n}

    assert _verdicts(warehouse, monkeypatch, late, only={"freshness"}) == freshness
    assert set(freshness.values()) == {"PASSED", "WARNED", "FAILED"}


def test_every_check_type_and_rule_feature_appears_in_the_demo_rules() -> None:
    catalog = load_catalog([RULES])
    rules = catalog.rules

    assert {r.check for r in rules} == set(CHECKS)
    assert {r.param("stat") for r in rules if r.check == "aggregate"} == set(STATS)
    assert any(r.check == "unique" and r.param("column") for r in rules)
    assert any(r.check == "unique" and len(r.param("columns") or []) > 1 for r in rules)
    assert any(r.check == "referential" and r.param("ref_source") for r in rules)
    assert any(r.where for r in rules)
    assert any(r.use_sampling and r.sample_size for r in rules)
    assert any(r.partition_column and r.partition_lookback for r in rules)
    assert any(r.partition_column and not r.partition_lookback for r in rules)
    assert any(r.alert_cooldown_minutes for r in rules)
    assert any(r.warn and r.fail for r in rules)
    assert set(EXPECTED_VERDICTS) == {r.name for r in rules}


def test_one_suite_per_warehouse_table(tmp_path: Path) -> None:
    catalog = load_catalog([RULES])
    tables = set(demo.build_tables(demo.DemoSpec(scale=0.01, anchor=ANCHOR))) - {"demo_build_info"}

    assert sorted(s.table for s in catalog.suites) == sorted(tables)
    assert {s.layer.value for s in catalog.suites} == {"bronze", "silver", "gold"}
    by_table = {s.table: s for s in catalog.suites}
    assert [c.value for c in by_table["silver_customers"].data_classes] == ["pii"]
    assert [c.value for c in by_table["silver_payments"].data_classes] == ["financial"]
    assert not by_table["silver_shipments"].data_classes  # a bypassable silver table
    assert not by_table["gold_shipping_sla"].data_classes  # a bypassable gold table


def test_naive_now_is_refused_with_the_fix() -> None:
    with pytest.raises(demo.DemoError, match="no time zone. Hint: add Z"):
        demo.anchor_of(datetime(2026, 3, 10, 9, 30))


def test_anchor_is_the_start_of_the_utc_day() -> None:
    local = datetime.fromisoformat("2026-03-10T01:30:00+02:00")  # 2026-03-09 23:30 UTC
    assert demo.anchor_of(local) == datetime(2026, 3, 9, tzinfo=UTC)


def test_default_time_is_the_product_clock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DQ_NOW", "2026-07-04T18:00:00Z")
    path = tmp_path / "w.db"
    demo.seed_demo(path, scale=0.02)
    assert _scalar(path, "SELECT value FROM demo_build_info WHERE key = 'anchor'") == "2026-07-04T00:00:00+00:00"


def test_a_failed_build_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    path.write_bytes(b"the previous warehouse")
    bad = {"t": pl.DataFrame({"x": [[1, 2]]})}  # a list column has no SQLite type

    with pytest.raises(demo.DemoError, match="t.x has type List.*Hint"):
        demo.write_sqlite(path, bad)
    assert path.read_bytes() == b"the previous warehouse"
    assert list(tmp_path.iterdir()) == [path]


def test_existing_file_is_kept_without_force(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    path.write_bytes(b"keep me")
    with pytest.raises(demo.DemoExists, match="--force"):
        demo.seed_demo(path, now=NOW, scale=0.02)
    assert path.read_bytes() == b"keep me"


def test_scale_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(demo.DemoError, match="above 0. Hint"):
        demo.seed_demo(tmp_path / "w.db", scale=0)


def test_cli_builds_then_keeps_the_file(tmp_path: Path) -> None:
    env = {"DQ_DATA_DIR": str(tmp_path / "data")}
    target = tmp_path / "data" / demo.FILE_NAME

    built = manage("seed_demo", "--rows-scale", "0.02", "--now", "2026-03-10T09:30:00Z", env=env)
    assert built.returncode == 0, built.stderr
    assert f"built {target}" in built.stdout and "silver_orders" in built.stdout
    first = target.read_bytes()

    kept = manage("seed_demo", "--rows-scale", "0.02", "--now", "2026-04-01T00:00:00Z", env=env)
    assert kept.returncode == 0 and "kept the existing demo warehouse" in kept.stdout
    assert target.read_bytes() == first


def test_cli_force_rebuilds_in_place(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "w.db"
    path.write_bytes(b"old")

    assert main(["seed_demo", "--path", str(path), "--force", "--rows-scale", "0.02"]) == 0
    assert f"built {path}" in capsys.readouterr().out
    assert _scalar(path, "SELECT COUNT(*) FROM silver_customers") == 400
    assert [p.name for p in tmp_path.iterdir()] == ["w.db"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--now", "yesterday"], "is not an ISO 8601 time. Hint"),
        (["--rows-scale", "0"], "must be above 0. Hint"),
    ],
)
def test_cli_usage_errors_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                                 message: str) -> None:
    assert main(["seed_demo", "--path", str(tmp_path / "w.db"), *args]) == 3
    assert message in capsys.readouterr().err
    assert not (tmp_path / "w.db").exists()


def test_cli_unwritable_path_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")

    assert main(["seed_demo", "--path", str(blocker / "w.db"), "--rows-scale", "0.02"]) == 2
    err = capsys.readouterr().err
    assert "cannot write" in err and "Hint: choose a writable --path" in err


def test_cli_reads_a_naive_now_as_utc(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    assert main(["seed_demo", "--path", str(path), "--rows-scale", "0.02", "--now", "2026-03-10T23:30:00"]) == 0
    assert _scalar(path, "SELECT value FROM demo_build_info WHERE key = 'anchor'") == "2026-03-10T00:00:00+00:00"
