"""Syncing manifests into the store: versions, diffs, disable-on-removal, all-or-nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

import clock
from engine.manifest import load_catalog
from store import db, schema
from store.errors import NotFound
from store.rules import live_suite, live_suites, plan_sync, suite_of_rule, sync_catalog

SOURCES = "sources:\n  warehouse: {kind: sql, demo: true}\n"
SUITE = """\
suite: silver.orders
source: warehouse
table: silver_orders
layer: silver
rules:
  - name: orders_id_unique
    check: unique
    column: order_id
    severity: CRITICAL
  - name: orders_amount_positive
    check: between
    column: amount
    min: 0
    severity: HIGH
"""


def catalog(tmp_path: Path, text: str = SUITE):
    (tmp_path / "rules").mkdir(exist_ok=True)
    (tmp_path / "rules" / "sources.yaml").write_text(SOURCES)
    (tmp_path / "rules" / "orders.yaml").write_text(text)
    return load_catalog([tmp_path / "rules"])


def load(tmp_path: Path, text: str = SUITE, **kwargs):
    with db.write() as conn:
        return sync_catalog(conn, catalog(tmp_path, text), "alice", **kwargs)


def rows(table: sa.Table, *columns: str) -> list[tuple]:
    with db.read() as conn:
        return [tuple(r) for r in conn.execute(sa.select(*[table.c[c] for c in columns]).order_by(table.c.id))]


def test_first_load_adds_rules_with_version_one(store_url: str, tmp_path: Path) -> None:
    plan = load(tmp_path)
    assert (plan.count("added"), plan.suites_added) == (2, ("silver.orders",))
    assert rows(schema.rules, "name", "status", "version", "severity") == [
        ("orders_id_unique", "active", 1, "CRITICAL"), ("orders_amount_positive", "active", 1, "HIGH")]
    assert rows(schema.rule_versions, "rule_name", "change", "changed_by") == [
        ("orders_id_unique", "added", "alice"), ("orders_amount_positive", "added", "alice")]


def test_a_change_is_a_new_version_with_its_diff(store_url: str, tmp_path: Path) -> None:
    load(tmp_path)
    plan = load(tmp_path, SUITE.replace("min: 0", "min: 1"))
    assert [(c.rule, c.change, c.diff) for c in plan.changes] == [("orders_amount_positive", "changed", {"min": [0, 1]})]
    assert plan.unchanged == 1
    assert rows(schema.rule_versions, "rule_name", "version", "change")[-1] == ("orders_amount_positive", 2, "changed")


def test_a_removed_rule_is_disabled_and_keeps_its_history(store_url: str, tmp_path: Path) -> None:
    load(tmp_path)
    removed = SUITE.split("  - name: orders_amount_positive")[0]
    plan = load(tmp_path, removed)
    assert [(c.rule, c.change) for c in plan.changes] == [("orders_amount_positive", "removed")]
    assert rows(schema.rules, "name", "status", "enabled")[1] == ("orders_amount_positive", "removed", False)
    assert [r.name for r in live_suite("silver.orders").rules] == ["orders_id_unique"]
    with pytest.raises(NotFound, match="is removed. Hint: restore it in its manifest"):
        suite_of_rule("orders_amount_positive")
    assert load(tmp_path).count("restored") == 1


def test_dry_run_plans_and_writes_nothing(store_url: str, tmp_path: Path) -> None:
    plan = load(tmp_path, dry_run=True)
    assert plan.count("added") == 2
    assert rows(schema.rules, "name") == []


def test_prune_disables_suites_missing_from_a_folder_load(store_url: str, tmp_path: Path) -> None:
    load(tmp_path)
    other = SUITE.replace("silver.orders", "gold.orders").replace("orders_id_unique", "g1").replace("orders_amount_positive", "g2")
    plan = load(tmp_path, other, prune=True)
    assert plan.suites_disabled == ("silver.orders",)
    assert [s.name for s in live_suites()] == ["gold.orders"]


def test_live_suite_reflects_store_state(store_url: str, tmp_path: Path) -> None:
    load(tmp_path)
    with db.write() as conn:
        conn.execute(schema.rules.update().where(schema.rules.c.name == "orders_id_unique").values(enabled=False, status="disabled"))
    suite = live_suite("silver.orders")
    assert [(r.name, r.enabled) for r in suite.rules] == [("orders_id_unique", False), ("orders_amount_positive", True)]
    # an unchanged reload keeps the operational disable
    load(tmp_path)
    assert [r.enabled for r in live_suite("silver.orders").rules] == [False, True]


def test_unknown_suite_and_rule_have_a_hint(store_url: str) -> None:
    with pytest.raises(NotFound, match="suite 'nope' is not in the store. Hint: run `python manage.py load_dq_rules"):
        live_suite("nope")
    with pytest.raises(NotFound, match="rule 'nope' is not in the store"):
        suite_of_rule("nope")


def test_plan_reads_only(store_url: str, tmp_path: Path) -> None:
    with db.read() as conn:
        assert plan_sync(conn, catalog(tmp_path)).count("added") == 2


def test_one_unreadable_stored_suite_does_not_hide_the_others(store_url: str, tmp_path: Path) -> None:
    load(tmp_path)
    other = SUITE.replace("silver.orders", "gold.orders").replace("orders_id_unique", "g1").replace("orders_amount_positive", "g2")
    load(tmp_path, other)
    with db.write() as conn:
        conn.execute(schema.suites.update().where(schema.suites.c.name == "gold.orders").values(definition={"suite": "gold.orders"}))
    assert [s.name for s in live_suites()] == ["silver.orders"]


def test_renamed_from_keeps_the_rules_row_versions_and_open_violations(store_url: str, tmp_path: Path) -> None:
    load(tmp_path)
    rule_id = rows(schema.rules, "id")[0][0]
    with db.write() as conn:
        conn.execute(schema.violations.insert().values(
            rule_name="orders_id_unique", rule_id=rule_id, suite="silver.orders", source="warehouse",
            check_type="unique", severity="CRITICAL", status="open", verdict="FAILED", detected_at=clock.utcnow(),
            last_seen_at=clock.utcnow(), occurrences=1, acknowledged=False))
    renamed = SUITE.replace("  - name: orders_id_unique\n", "  - name: orders_order_id_unique\n    renamed_from: orders_id_unique\n")
    with db.read() as conn:
        plan = plan_sync(conn, catalog(tmp_path, renamed))
    [change] = plan.changes
    assert (change.rule, change.change, change.diff["name"]) == ("orders_order_id_unique", "renamed", ["orders_id_unique", "orders_order_id_unique"])
    load(tmp_path, renamed)
    assert rows(schema.rules, "id", "name", "status", "version") == [
        (rule_id, "orders_order_id_unique", "active", 2), (rule_id + 1, "orders_amount_positive", "active", 1)]
    assert rows(schema.rule_versions, "rule_name", "version", "change")[0::2] == [
        ("orders_order_id_unique", 1, "added"), ("orders_order_id_unique", 2, "renamed")]
    assert rows(schema.violations, "rule_name", "rule_id") == [("orders_order_id_unique", rule_id)]
    assert load(tmp_path, renamed).empty  # loading it again changes nothing


def test_renamed_from_must_name_another_rule(store_url: str, tmp_path: Path) -> None:
    from engine.errors import ManifestError

    bad = SUITE.replace("  - name: orders_id_unique\n", "  - name: orders_id_unique\n    renamed_from: orders_id_unique\n")
    with pytest.raises(ManifestError, match=r"orders.yaml:\d+ rule 'orders_id_unique' key 'renamed_from': 'orders_id_unique' is not a previous rule name"):
        catalog(tmp_path, bad)
