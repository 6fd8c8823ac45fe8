"""A populated store for the operations tests: rules loaded from manifests, history of every age, every table filled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from engine.manifest import load_catalog
from store import audit, db, schema
from store.rules import sync_catalog

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

SOURCES = """\
sources:
  warehouse:
    kind: sql
    url_env: DQ_SOURCE_WAREHOUSE_URL
    description: the demo warehouse
"""

ORDERS = """\
suite: silver.orders
source: warehouse
table: silver.orders
layer: silver
data_classes: [financial]
pii_columns: [email]
schedule: "0 * * * *"
owner: data-eng
description: "Orders, one row per order"
rules:
  - name: orders_id_not_null
    check: not_null
    column: id
    severity: HIGH
  - name: orders_amount_between
    check: between
    column: amount
    min: 0
    max: 10000
    severity: MEDIUM
    fail: "1%"
    description: "Beträge in € müssen positiv sein"
    use_sampling: true
    sample_size: 5000
    alert_cooldown_minutes: 30
  - name: orders_status_values
    check: accepted_values
    column: status
    values: [new, paid, "shipped"]
    severity: LOW
    enabled: false
"""

CUSTOMERS = """\
suite: gold.customers
source: warehouse
table: customers
schema: gold
layer: gold
rules:
  - name: customers_email_unique
    check: unique
    column: email
    severity: CRITICAL
    where: "country = 'DE'"
  - name: customers_fresh
    check: freshness
    column: updated_at
    max_age: 1d
    severity: HIGH
"""


def write_manifests(folder: Path) -> Path:
    """A rules folder with sources.yaml and two suites; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sources.yaml").write_text(SOURCES, encoding="utf-8")
    (folder / "orders.yaml").write_text(ORDERS, encoding="utf-8")
    (folder / "customers.yaml").write_text(CUSTOMERS, encoding="utf-8")
    return folder


def load_rules(folder: Path, engine: sa.Engine | None = None) -> None:
    catalog = load_catalog([folder], default_sources=folder / "sources.yaml")
    with db.write(engine) as conn:
        sync_catalog(conn, catalog, "tester", prune=True)


def add_run(conn: sa.Connection, started: datetime, *, status: str = "FAILED", suite: str = "silver.orders") -> int:
    run_id = conn.execute(
        schema.runs.insert().values(
            suite=suite, source="warehouse", trigger="schedule", status=status, started_at=started,
            finished_at=None if status == "RUNNING" else started + timedelta(seconds=2), duration_ms=2000.5,
            rows_read=10_000_000_000, rules_total=2, rules_failed=1, rules_error=0, requested_by="scheduler",
        )
    ).inserted_primary_key[0]
    for rule, verdict, value in (("orders_id_not_null", "PASSED", 0.0), ("orders_amount_between", "FAILED", float("nan"))):
        conn.execute(
            schema.results.insert().values(
                run_id=run_id, rule_name=rule, suite=suite, check_type="not_null", severity="HIGH", status=verdict,
                observed_value=value, failing_rows=3, rows_tested=100, metrics={"null_rate": 0.03, "nested": {"a": [1, None]}},
                message=f"{rule}: 3 of 100 rows", finished_at=started + timedelta(seconds=1),
            )
        )
    return int(run_id)


def add_violation(conn: sa.Connection, run_id: int, detected: datetime, last_seen: datetime, *, status: str) -> int:
    resolved = last_seen + timedelta(hours=1) if status == "resolved" else None
    violation_id = conn.execute(
        schema.violations.insert().values(
            rule_name="orders_amount_between", suite="silver.orders", source="warehouse", check_type="between",
            severity="MEDIUM", status=status, verdict="FAILED", detected_at=detected, last_seen_at=last_seen,
            occurrences=2, first_run_id=run_id, last_run_id=run_id, observed_value=0.03, worst_value=None,
            threshold="more than 1% of rows", failing_rows=3, message="amount out of range",
            sample=[{"id": 1, "amount": -5, "email": "***"}], acknowledged=status != "open",
            resolved_at=resolved, resolved_by="auto" if resolved else None, resolution="auto" if resolved else None,
        )
    ).inserted_primary_key[0]
    for offset in (0, 1):
        conn.execute(
            schema.violation_samples.insert().values(
                violation_id=violation_id, run_id=run_id, captured_at=detected + timedelta(minutes=offset),
                failing_rows=3, rows=[{"id": offset, "amount": -1.5, "note": "ünïcode"}],
            )
        )
    return int(violation_id)


def add_metric_point(conn: sa.Connection, at: datetime) -> int:
    """One point of an anomaly rule's history (retention keeps it by its instant)."""
    return int(conn.execute(schema.metric_points.insert().values(
        rule_id=1, metric="rows_per_bucket", at=at, value=1204.0, recorded_at=at, run_id=None, origin="backfill",
        excluded=False)).inserted_primary_key[0])


def populate(now: datetime = NOW, engine: sa.Engine | None = None) -> dict[str, list[int]]:
    """History at ages 1, 10, 200 and 400 days, plus a row in every other table. Returns ids by kind."""
    ids: dict[str, list[int]] = {"old_runs": [], "new_runs": [], "old_violations": [], "kept_violations": []}
    with db.write(engine) as conn:
        for days in (400, 200):
            run_id = add_run(conn, now - timedelta(days=days))
            ids["old_runs"].append(run_id)
            ids["old_violations"].append(add_violation(conn, run_id, now - timedelta(days=days), now - timedelta(days=days - 1), status="resolved"))
        old_open_run = ids["old_runs"][0]
        # Old but still open, and old but resolved only recently: both are kept.
        ids["kept_violations"].append(add_violation(conn, old_open_run, now - timedelta(days=300), now - timedelta(days=300), status="open"))
        ids["kept_violations"].append(add_violation(conn, old_open_run, now - timedelta(days=300), now - timedelta(days=181), status="acknowledged"))
        for days in (10, 1):
            run_id = add_run(conn, now - timedelta(days=days))
            ids["new_runs"].append(run_id)
            ids["kept_violations"].append(add_violation(conn, run_id, now - timedelta(days=days), now - timedelta(hours=days), status="open"))
        ids["running"] = [add_run(conn, now - timedelta(days=250), status="RUNNING")]
        ids["metric_points"] = [add_metric_point(conn, now - timedelta(days=days)) for days in (400, 10)]
        _fill_other_tables(conn, now, ids["new_runs"][0], ids["kept_violations"][-1])
    return ids


def _fill_other_tables(conn: sa.Connection, now: datetime, run_id: int, violation_id: int) -> None:
    conn.execute(schema.run_requests.insert().values(
        suite="silver.orders", rule_name=None, requested_by="alice", requested_at=now, origin="cli", status="done",
        claimed_by="sched-1", claimed_at=now, finished_at=now, run_id=run_id))
    conn.execute(schema.scheduler_heartbeats.insert().values(
        scheduler_id="sched-1", host="h1", pid=42, started_at=now, beat_at=now, status="running", timezone="UTC"))
    conn.execute(schema.scheduler_uptime.insert().values(scheduler_id="sched-1", up_from=now, up_to=now))
    conn.execute(schema.report_runs.insert().values(report="daily_health", due_at=now, kind="daily",
                                                    claimed_by="sched-1", created_at=now, alert_ids=[]))
    conn.execute(schema.sla_states.insert().values(kpi="success_rate", breached_since=now, value=90.0, target="> 95%"))
    conn.execute(schema.suite_leases.insert().values(suite="silver.orders", holder=None, run_id=None, acquired_at=None, expires_at=None))
    conn.execute(schema.schedule_claims.insert().values(suite="silver.orders", due_at=now, claimed_by="sched-1", claimed_at=now, run_id=run_id))
    conn.execute(schema.alerts.insert().values(
        violation_id=violation_id, rule_name="orders_amount_between", suite="silver.orders", severity="MEDIUM",
        kind="trigger", channel="slack", payload={"text": "amount out of range", "blocks": []}, status="sent",
        attempts=1, created_at=now, sent_at=now))
    request_id = conn.execute(schema.bypass_requests.insert().values(
        suite="gold.customers", table_name="gold.customers", layer="gold", data_classes=[], requested_by="bob",
        requested_at=now, incident_id="INC-1", incident_url="https://incidents/1", failure_details="late data",
        violation_ids=[violation_id], business_impact="dashboards", duration_hours=6.5, impact_assessment="low",
        rollback_plan="re-run", fix_timeline="2h", alternative_plan="none", status="pending",
    )).inserted_primary_key[0]
    conn.execute(schema.bypass_approvals.insert().values(
        request_id=request_id, approver="carol", role="data_eng_lead", decision="approve", reason="ok", decided_at=now))
    conn.execute(schema.class_changes.insert().values(
        source="warehouse", table_name="gold.customers", current=["financial"], proposed=[], proposed_by="bob",
        proposed_at=now, status="pending"))
    conn.execute(schema.rule_change_requests.insert().values(
        rule_name="orders_amount_between", suite="silver.orders", change="disabled", severity="CRITICAL",
        data_classes=["pii"], reason="noisy after the migration", requested_by="bob", requested_at=now, status="pending"))
    audit.record(conn, "tester", "bypass.requested", "bypass", request_id, note="populated for a test")


def table_rows(engine: sa.Engine) -> dict[str, list[tuple]]:
    """Every data table's rows, ordered by primary key, as compared across stores (NaN made comparable)."""
    rows = {}
    with db.read(engine) as conn:
        for table in schema.metadata.sorted_tables:
            if table.name == "schema_migrations":
                continue
            query = sa.select(table).order_by(*table.primary_key.columns)
            rows[table.name] = [tuple("NaN" if v != v else v for v in row) for row in conn.execute(query)]
    return rows
