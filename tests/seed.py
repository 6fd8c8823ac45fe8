"""Small builders that write suites, rules, runs, results, violations and alerts straight into a store.

Console and store tests use them to shape exactly the history a test needs; every builder
takes explicit times so results do not depend on the wall clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from store import audit, db, schema

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def ago(**delta: float) -> datetime:
    return NOW - timedelta(**delta)


def suite(
    name: str = "silver.orders",
    source: str = "warehouse",
    layer: str = "silver",
    owner: str | None = "orders-team@company.com",
    engine: Engine | None = None,
    **extra: Any,
) -> str:
    values = dict(
        name=name,
        source=source,
        table_name=name.split(".")[-1],
        layer=layer,
        data_classes=[],
        pii_columns=[],
        owner=owner,
        definition={},
        enabled=True,
        updated_at=NOW,
    )
    values.update(extra)
    with db.write(engine) as conn:
        conn.execute(schema.suites.insert().values(**values))
    return name


def rule(
    name: str = "orders_id_not_null",
    suite: str = "silver.orders",
    source: str = "warehouse",
    severity: str = "HIGH",
    check_type: str = "not_null",
    enabled: bool = True,
    owner: str | None = "orders-team@company.com",
    engine: Engine | None = None,
    **extra: Any,
) -> str:
    values = dict(
        name=name,
        suite=suite,
        source=source,
        table_name=suite.split(".")[-1],
        check_type=check_type,
        params={"column": "id"},
        severity=severity,
        enabled=enabled,
        status="active" if enabled else "disabled",
        use_sampling=False,
        owner=owner,
        definition={},
        definition_hash="0" * 64,
        version=1,
        created_at=NOW,
        updated_at=NOW,
    )
    values.update(extra)
    with db.write(engine) as conn:
        conn.execute(schema.rules.insert().values(**values))
    return name


def run(
    suite: str = "silver.orders",
    at: datetime = NOW,
    status: str = "PASSED",
    seconds: float = 2.0,
    trigger: str = "schedule",
    engine: Engine | None = None,
    **extra: Any,
) -> int:
    values = dict(
        suite=suite,
        source="warehouse",
        trigger=trigger,
        status=status,
        started_at=at,
        finished_at=at + timedelta(seconds=seconds),
        duration_ms=seconds * 1000,
        rules_total=1,
        rules_failed=int(status == "FAILED"),
        rules_error=int(status == "ERROR"),
    )
    values.update(extra)
    with db.write(engine) as conn:
        return int(conn.execute(schema.runs.insert().values(**values)).inserted_primary_key[0])


def result(
    run_id: int = 1,
    rule_name: str = "orders_id_not_null",
    status: str = "PASSED",
    at: datetime = NOW,
    severity: str = "HIGH",
    suite: str = "silver.orders",
    check_type: str = "not_null",
    engine: Engine | None = None,
    **extra: Any,
) -> None:
    values = dict(
        run_id=run_id,
        rule_name=rule_name,
        suite=suite,
        check_type=check_type,
        severity=severity,
        status=status,
        metrics={},
        finished_at=at,
        duration_ms=10.0,
        message=f"{rule_name} {status}",
    )
    values.update(extra)
    with db.write(engine) as conn:
        conn.execute(schema.results.insert().values(**values, signature=audit.sign_result(values)))


def checked(
    rule_name: str = "orders_id_not_null",
    status: str = "PASSED",
    at: datetime = NOW,
    severity: str = "HIGH",
    suite: str = "silver.orders",
    engine: Engine | None = None,
    **extra: Any,
) -> int:
    """One run of the suite with one result of the rule; returns the run id."""
    run_status = status if status in {"PASSED", "FAILED", "ERROR", "WARNED"} else "PASSED"
    run_id = run(suite=suite, at=at, status=run_status, engine=engine)
    result(run_id, rule_name, status, at, severity, suite, engine=engine, **extra)
    return run_id


def violation(
    rule_name: str = "orders_id_not_null",
    suite: str = "silver.orders",
    severity: str = "HIGH",
    status: str = "open",
    detected_at: datetime = NOW,
    source: str = "warehouse",
    engine: Engine | None = None,
    **extra: Any,
) -> int:
    values = dict(
        rule_name=rule_name,
        suite=suite,
        source=source,
        check_type="not_null",
        severity=severity,
        status=status,
        verdict="FAILED",
        detected_at=detected_at,
        last_seen_at=detected_at,
        occurrences=1,
        observed_value=3.0,
        threshold="more than 0 rows",
        failing_rows=3,
        message="id must not be null",
        sample=[{"id": None, "amount": 1.5}],
        acknowledged=status != "open",
    )
    values.update(extra)
    with db.write(engine) as conn:
        return int(conn.execute(schema.violations.insert().values(**values)).inserted_primary_key[0])


def alert(
    violation_id: int = 1,
    sent_at: datetime | None = NOW,
    rule_name: str = "orders_id_not_null",
    status: str = "sent",
    engine: Engine | None = None,
    kind: str = "trigger",
) -> None:
    with db.write(engine) as conn:
        conn.execute(
            schema.alerts.insert().values(
                violation_id=violation_id,
                rule_name=rule_name,
                suite="silver.orders",
                severity="HIGH",
                kind=kind,
                channel="slack",
                payload={},
                status=status,
                attempts=1,
                created_at=sent_at or NOW,
                sent_at=sent_at,
            )
        )


def heartbeat(
    scheduler_id: str = "host:1",
    started_at: datetime = NOW,
    beat_at: datetime = NOW,
    status: str = "running",
    engine: Engine | None = None,
) -> None:
    with db.write(engine) as conn:
        conn.execute(
            schema.scheduler_heartbeats.insert().values(
                scheduler_id=scheduler_id,
                host="host",
                pid=1,
                started_at=started_at,
                beat_at=beat_at,
                status=status,
            )
        )
        # The up-time history availability reads: one stretch from its start to its newest beat.
        conn.execute(schema.scheduler_uptime.insert().values(scheduler_id=scheduler_id, up_from=started_at,
                                                             up_to=beat_at))


SOURCES = """\
sources:
  warehouse:
    kind: sql
    url_env: DQ_SOURCE_WAREHOUSE_URL
"""

ORDERS = """\
suite: silver.orders
source: warehouse
table: orders
layer: silver
owner: orders-team@company.com
rules:
  - name: orders_id_not_null
    check: not_null
    column: id
    severity: HIGH
"""


def load_rules(folder: Path, engine: Engine | None = None) -> None:
    """Load the silver.orders manifest through the real loader, as `load_dq_rules` would."""
    from engine.manifest import load_catalog
    from store.rules import sync_catalog

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sources.yaml").write_text(SOURCES, encoding="utf-8")
    (folder / "orders.yaml").write_text(ORDERS, encoding="utf-8")
    catalog = load_catalog([folder], default_sources=folder / "sources.yaml")
    with db.write(engine) as conn:
        sync_catalog(conn, catalog, "tester", prune=True)
