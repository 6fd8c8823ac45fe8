import dataclasses
from pathlib import Path

import yaml

from engine.manifest import load_catalog
from ops import manifest_export
from store import db, lifecycle
from store.rules import sync_catalog
from tests.ops.store_data import write_manifests


def _comparable(catalog):
    """Suites and rules without where they were read from (file and line differ by design)."""
    return [
        dataclasses.replace(
            suite, file=None, line=None, rules=tuple(dataclasses.replace(r, file=None, line=None) for r in suite.rules)
        )
        for suite in catalog.suites
    ]


def _export(tmp_path: Path, monkeypatch, store_url: str) -> tuple[Path, Path]:
    rules = write_manifests(tmp_path / "rules")
    monkeypatch.setenv("DQ_RULES_DIR", str(rules))
    catalog = load_catalog([rules], default_sources=rules / "sources.yaml")
    with db.write() as conn:
        sync_catalog(conn, catalog, "tester", prune=True)
    exported = tmp_path / "exported.yaml"
    with db.read() as conn:
        text, count = manifest_export.manifest_yaml(conn)
    exported.write_text(text, encoding="utf-8")
    assert count == 2
    return rules, exported


def test_manifest_round_trips_exactly(tmp_path, monkeypatch, store_url) -> None:
    rules, exported = _export(tmp_path, monkeypatch, store_url)
    original = load_catalog([rules], default_sources=rules / "sources.yaml")
    reloaded = load_catalog([exported])  # self-contained: sources travel in the file
    assert sorted(_comparable(reloaded), key=lambda s: s.name) == sorted(_comparable(original), key=lambda s: s.name)
    assert dict(reloaded.sources["warehouse"].__dict__, file=None, line=None) == dict(
        original.sources["warehouse"].__dict__, file=None, line=None
    )


def test_manifest_is_a_stream_of_sources_then_suites(tmp_path, monkeypatch, sqlite_store) -> None:
    _, exported = _export(tmp_path, monkeypatch, sqlite_store)
    documents = list(yaml.safe_load_all(exported.read_text()))
    assert [next(iter(d)) for d in documents] == ["sources", "suite", "suite"]
    orders = next(d for d in documents if d.get("suite") == "silver.orders")
    assert [r["name"] for r in orders["rules"]] == ["orders_id_not_null", "orders_amount_between", "orders_status_values"]
    assert orders["rules"][1]["description"] == "Beträge in € müssen positiv sein"


def test_reloading_the_export_into_the_same_store_changes_nothing(tmp_path, monkeypatch, store_url) -> None:
    _, exported = _export(tmp_path, monkeypatch, store_url)
    with db.write() as conn:
        plan = sync_catalog(conn, load_catalog([exported]), "tester", dry_run=True)
    assert plan.empty and plan.unchanged == 5


def test_retired_rules_are_left_out_and_disabled_ones_written_disabled(tmp_path, monkeypatch, sqlite_store) -> None:
    _export(tmp_path, monkeypatch, sqlite_store)
    lifecycle.set_rule_state("customers_fresh", "retired", "alice", "table decommissioned")
    lifecycle.set_rule_state("orders_id_not_null", "disabled", "alice", "noisy during migration")
    with db.read() as conn:
        documents = manifest_export.manifest_documents(conn)
    rules = {r["name"]: r for d in documents for r in d["rules"]}
    assert "customers_fresh" not in rules
    assert rules["orders_id_not_null"]["enabled"] is False
    assert "enabled" not in rules["orders_amount_between"]


def test_one_suite_only(tmp_path, monkeypatch, sqlite_store) -> None:
    _export(tmp_path, monkeypatch, sqlite_store)
    with db.read() as conn:
        documents = manifest_export.manifest_documents(conn, suite="gold.customers")
    assert [d["suite"] for d in documents] == ["gold.customers"]
