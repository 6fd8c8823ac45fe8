"""Rows for bypass and gate tests: suites, runs and results inserted through store.schema."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import pytest

import clock
from store import audit, db
from store.bypass import NewRequest
from store.schema import results, runs, suites, violations


def add_suite(name: str, layer: str = "silver", data_classes: Sequence[str] = ()) -> None:
    """A suite row as sync_catalog writes it (without rules), so live_suites can parse it."""
    schema, _, table = name.rpartition(".")
    definition = {"suite": name, "source": "warehouse", "table": table, "layer": layer,
                  "data_classes": list(data_classes), **({"schema": schema} if schema else {})}
    with db.write() as conn:
        conn.execute(
            suites.insert().values(
                name=name, source="warehouse", table_name=name, layer=layer, data_classes=list(data_classes),
                pii_columns=[], definition=definition, enabled=True, updated_at=clock.utcnow(),
            )
        )


def add_run(
    suite: str, outcomes: Sequence[tuple[str, str, str]], *, started_at: datetime | None = None,
    error: str | None = None,
) -> int:
    """One finished run; outcomes are (rule, severity, verdict). Status = worst verdict."""
    started = started_at or clock.utcnow()
    order = ["SKIPPED", "PASSED", "WARNED", "FAILED", "ERROR"]
    status = max((o[2] for o in outcomes), key=order.index, default="PASSED")
    with db.write() as conn:
        run_id = conn.execute(
            runs.insert().values(
                suite=suite, source="warehouse", trigger="schedule", status="ERROR" if error else status,
                started_at=started, finished_at=started, error=error,
            )
        ).inserted_primary_key[0]
        for rule, severity, verdict in outcomes:
            values = dict(
                run_id=run_id, rule_name=rule, suite=suite, check_type="not_null", severity=severity,
                status=verdict, metrics={}, message=f"{rule}: 3 rows are null" if verdict != "PASSED" else "ok",
                finished_at=started,
            )
            conn.execute(results.insert().values(**values, signature=audit.sign_result(values)))
            if verdict == "FAILED":
                conn.execute(
                    violations.insert().values(
                        rule_name=rule, suite=suite, source="warehouse", check_type="not_null",
                        severity=severity, status="open", verdict="FAILED", detected_at=started,
                        last_seen_at=started, occurrences=1, first_run_id=run_id, last_run_id=run_id,
                        acknowledged=False,
                    )
                )
    return int(run_id)


def checklist(suite: str, hours: float = 6, **changes: object) -> NewRequest:
    values: dict[str, object] = dict(
        suite=suite, incident_id="INC-42", incident_url="https://jira.example.com/browse/INC-42",
        failure_details="orders_id_not_null failed", business_impact="Orders dashboard blocked",
        duration_hours=hours, impact_assessment="Downstream gold.revenue sees 0.1% null ids",
        rollback_plan="Restore s3 latest/ from backup/", fix_timeline="Next release (24 hours)",
        alternative_plan="Backfill ids from the source system",
    )
    values.update(changes)
    return NewRequest(**values)  # type: ignore[arg-type]


ORDERS_SUITE = """\
suite: {name}
source: warehouse
table: orders
layer: {layer}
rules:
  - {{name: orders_id_not_null, check: not_null, column: id, severity: HIGH}}
  - {{name: orders_amount_not_null, check: not_null, column: amount, severity: LOW}}
"""


def real_orders_suite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, name: str = "silver.orders", layer: str = "silver"
) -> Path:
    """A SQLite warehouse with a table `orders` whose id has one NULL, and its suite `name` loaded in the store.

    Returns the warehouse file; `fix_orders(path)` repairs the data so the suite passes.
    """
    from engine.manifest import load_catalog
    from store.rules import sync_catalog

    warehouse = tmp_path / "warehouse.db"
    with sqlite3.connect(warehouse) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER, amount REAL)")
        conn.executemany("INSERT INTO orders VALUES (?, ?)", [(1, 10.0), (None, 5.0), (3, None)])
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "sources.yaml").write_text("sources:\n  warehouse: {kind: sql}\n")
    (rules / "silver_orders.yaml").write_text(ORDERS_SUITE.format(name=name, layer=layer))
    monkeypatch.setenv("DQ_RULES_DIR", str(rules))
    monkeypatch.setenv("DQ_SOURCE_WAREHOUSE_URL", f"sqlite:///{warehouse}")
    catalog = load_catalog([rules / "silver_orders.yaml"], rules / "sources.yaml")
    with db.write() as conn:
        sync_catalog(conn, catalog, "test")
    return warehouse


def fix_orders(warehouse: Path) -> None:
    with sqlite3.connect(warehouse) as conn:
        conn.execute("UPDATE orders SET id = 2 WHERE id IS NULL")


def add_blocked_suite(name: str, layer: str = "silver", data_classes: Sequence[str] = ()) -> int:
    """A suite whose latest run fails a HIGH rule: a bypass may be requested for it (issue 12)."""
    add_suite(name, layer, data_classes)
    return add_run(name, [(f"{name.rpartition('.')[2]}_blocking", "HIGH", "FAILED")])
