"""From a failing rule in a real warehouse to Slack and PagerDuty, through ops.run_checks.run_suite."""

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

import clock
from alerting.deliver import deliver_due
from ops.run_checks import run_suite
from store import alerts as outbox
from store import db
from store.schema import alerts
from tests.alerting.conftest import T0, orders_warehouse

SUITE = """\
suite: silver.orders
source: warehouse
table: silver_orders
layer: silver
rules:
  - {name: orders_id_not_null, check: not_null, column: order_id, severity: CRITICAL, alert_cooldown_minutes: 30}
  - {name: orders_email_present, check: not_null, column: email, severity: LOW}
"""


@pytest.fixture
def warehouse(tmp_path: Path, store_url: str, channels_env, monkeypatch) -> Path:
    return orders_warehouse(tmp_path, monkeypatch, SUITE, "CREATE TABLE silver_orders (order_id INTEGER, email TEXT)",
                            [(1, "a@x.io"), (None, None), (3, "c@x.io")])


def _at(monkeypatch, minutes: float):
    now = T0 + timedelta(minutes=minutes)
    monkeypatch.setenv("DQ_NOW", now.isoformat())
    return now


def test_failing_rules_alert_once_then_resolve(warehouse, channels_env, smtp_receiver, monkeypatch) -> None:
    run_suite("silver.orders")
    deliver_due(now=_at(monkeypatch, 1))
    [slack] = channels_env.bodies("/slack/T000/B000/secret-token")
    assert slack["text"] == "DQ: 2 new violations in silver.orders"
    [trigger] = channels_env.bodies("/v2/enqueue")
    assert (trigger["event_action"], trigger["dedup_key"]) == ("trigger", "dq-rule:orders_id_not_null")

    _at(monkeypatch, 10)
    run_suite("silver.orders")  # still failing, inside both cooldowns
    assert deliver_due(now=clock.utcnow()).messages == 0

    with sqlite3.connect(warehouse) as conn:
        conn.execute("DELETE FROM silver_orders WHERE order_id IS NULL")
    _at(monkeypatch, 20)
    run_suite("silver.orders")
    deliver_due(now=_at(monkeypatch, 21))
    events = channels_env.bodies("/v2/enqueue")
    assert [(e["event_action"], e["dedup_key"]) for e in events] == [
        ("trigger", "dq-rule:orders_id_not_null"), ("resolve", "dq-rule:orders_id_not_null"),
    ]
    assert channels_env.bodies("/slack/T000/B000/secret-token")[1]["text"] == "DQ: 2 recovered in silver.orders"
    with db.read() as conn:
        reasons = {a.suppressed_reason.split(":")[0] for a in outbox.recent(conn, statuses=["suppressed"])}
    assert reasons == {"cooldown 30 min", "cooldown 60 min"}


def test_a_bypass_rollback_notice_reaches_the_suites_team(sqlite_store, channels_env, smtp_receiver, policy) -> None:
    # The row store.bypass queues when a bypass is rolled back: a pending store row without a destination.
    with db.write() as conn:
        conn.execute(alerts.insert().values(
            suite="silver.orders", severity="HIGH", kind="bypass", channel="store", dedup_key="bypass-4-rollback",
            status="pending", attempts=0, created_at=T0,
            payload={"event": "bypass.rolled_back", "request_id": 4, "suite": "silver.orders",
                     "table": "silver.orders", "incident_url": "https://incidents/INC-9",
                     "text": "Bypass #4 on silver.orders was ROLLED BACK by lead@company.com: data wrong."},
        ))
    report = deliver_due(now=T0, policy=policy)
    assert (report.messages, report.errors) == (2, ())
    [slack] = channels_env.bodies("/slack/T000/B000/secret-token")
    assert slack["text"] == "DQ: 1 notice in silver.orders"
    assert slack["blocks"][1]["text"]["text"] == (
        ":information_source: [HIGH] Bypass #4 on silver.orders was ROLLED BACK by lead@company.com: data wrong."
    )
    assert channels_env.bodies("/v2/enqueue") == []  # a notice opens no incident
    assert smtp_receiver.envelopes == [("dq@company.com", ["sales-data@company.com"])]
    with db.read() as conn:
        assert sorted((a.channel, a.status) for a in outbox.recent(conn)) == [
            ("email", "sent"), ("slack", "sent"), ("store", "sent"),
        ]
