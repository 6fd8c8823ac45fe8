"""A rule that cannot run pages someone: a "could not check" alert, routed, cooled down and escalated
by the rule's severity, and resolved when the rule runs again (issue 13, deliverable 1).

Measured before the fix: a missing column on a CRITICAL rule, or a missing table, gave ERROR runs,
no alert at all, and nothing to escalate.
"""

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

import clock
from alerting.deliver import deliver_due
from alerting.escalate import escalate_due
from alerting.policy import load_policy
from ops.run_checks import run_suite
from store import alerts as outbox
from store import db
from store.schema import violations
from store.violations import acknowledge
from tests.alerting.conftest import T0, orders_warehouse

SLACK = "/slack/T000/B000/secret-token"
SUITE = """\
suite: silver.orders
source: warehouse
table: silver_orders
layer: silver
rules:
  - {name: orders_id_not_null, check: not_null, column: order_id, severity: CRITICAL, alert_cooldown_minutes: 30}
  - {name: orders_coupon_not_null, check: not_null, column: coupon, severity: LOW}
"""


@pytest.fixture
def warehouse(tmp_path: Path, store_url: str, channels_env, monkeypatch) -> Path:
    """silver_orders without its `coupon` column: the LOW rule cannot run, the CRITICAL one passes."""
    return orders_warehouse(tmp_path, monkeypatch, SUITE, "CREATE TABLE silver_orders (order_id INTEGER)",
                            [(1,), (2,), (3,)])


def _at(monkeypatch, minutes: float):
    now = T0 + timedelta(minutes=minutes)
    monkeypatch.setenv("DQ_NOW", now.isoformat())
    return now


def _alarms() -> list[tuple[str, str, str, str]]:
    with db.read() as conn:
        rows = reversed(outbox.recent(conn))
        return [(a.kind, a.rule_name, a.channel, a.status) for a in rows if a.channel != "store"]


def test_a_missing_table_pages_for_every_rule_with_its_severitys_channels(warehouse, channels_env, smtp_receiver, monkeypatch) -> None:
    with sqlite3.connect(warehouse) as conn:
        conn.execute("DROP TABLE silver_orders")
    summary = run_suite("silver.orders")
    assert {r.status.value for r in summary.report.results} == {"ERROR"}
    report = deliver_due(now=_at(monkeypatch, 1))
    assert report.errors == ()
    # CRITICAL: e-mail + Slack + PagerDuty; LOW: Slack only (one Slack message lists both).
    [slack] = channels_env.bodies(SLACK)
    assert slack["text"] == "DQ: 2 could not check in silver.orders"
    texts = [b["text"]["text"] for b in slack["blocks"][1:]]
    assert texts[0].startswith(":warning: [CRITICAL] orders_id_not_null on silver_orders: COULD NOT CHECK")
    assert "silver_orders" in texts[0] and "Open violation #" in texts[0]
    assert texts[1].startswith(":warning: [LOW] orders_coupon_not_null on silver_orders: COULD NOT CHECK")
    [page] = channels_env.bodies("/v2/enqueue")
    assert (page["event_action"], page["dedup_key"]) == ("trigger", "dq-rule-error:orders_id_not_null")
    assert page["payload"]["severity"] == "critical"
    assert page["payload"]["summary"].startswith("[CRITICAL] orders_id_not_null on silver_orders: COULD NOT CHECK")
    assert smtp_receiver.messages[0]["Subject"] == "[DQ CRITICAL] DQ: 1 could not check in silver.orders"
    kinds = {kind for kind, *_ in _alarms()}
    assert kinds == {"could_not_check"}


def test_could_not_check_is_cooled_down_then_reminded_then_resolved_when_the_rule_runs(warehouse, channels_env, smtp_receiver, monkeypatch) -> None:
    run_suite("silver.orders")  # the LOW rule's column is missing
    deliver_due(now=_at(monkeypatch, 1))
    [first] = channels_env.bodies(SLACK)
    assert first["text"] == "DQ: 1 could not check in silver.orders"
    assert "no such column" in first["blocks"][1]["text"]["text"].lower() or "coupon" in first["blocks"][1]["text"]["text"]

    _at(monkeypatch, 30)
    run_suite("silver.orders")  # still ERROR, inside the 60 min default cooldown
    assert deliver_due(now=clock.utcnow()).messages == 0
    with db.read() as conn:
        [suppressed] = outbox.recent(conn, statuses=["suppressed"])
    assert (suppressed.kind, suppressed.suppressed_reason.split(":")[0]) == ("could_not_check", "cooldown 60 min")

    _at(monkeypatch, 65)
    run_suite("silver.orders")  # past the cooldown: a reminder
    deliver_due(now=_at(monkeypatch, 66))
    assert channels_env.bodies(SLACK)[-1]["blocks"][1]["text"]["text"].startswith(
        ":warning: [LOW] orders_coupon_not_null on silver_orders: still could not check (3 runs since"
    )

    with sqlite3.connect(warehouse) as conn:
        conn.execute("ALTER TABLE silver_orders ADD COLUMN coupon TEXT")
    _at(monkeypatch, 70)
    summary = run_suite("silver.orders")  # runs again (and fails: every coupon is NULL)
    assert {r.rule_name: r.status.value for r in summary.report.results}["orders_coupon_not_null"] == "FAILED"
    deliver_due(now=_at(monkeypatch, 71))
    last = channels_env.bodies(SLACK)[-1]
    assert last["text"] == "DQ: 1 new violation, 1 checked again in silver.orders"
    lines = [b["text"]["text"] for b in last["blocks"][1:]]
    assert any("checked again, the rule runs" in line for line in lines)
    with db.read() as conn:
        episodes = conn.execute(sa.select(violations.c.verdict, violations.c.status, violations.c.occurrences,
                                          violations.c.resolved_by).order_by(violations.c.id)).all()
    assert [tuple(e) for e in episodes] == [("ERROR", "resolved", 3, "auto"), ("FAILED", "open", 1, None)]


def test_an_unacknowledged_could_not_check_escalates_and_an_acknowledged_one_does_not(warehouse, channels_env, smtp_receiver, monkeypatch) -> None:
    with sqlite3.connect(warehouse) as conn:
        conn.execute("DROP TABLE silver_orders")
    run_suite("silver.orders")
    policy = load_policy()
    deliver_due(now=_at(monkeypatch, 1), policy=policy)
    assert escalate_due(now=T0 + timedelta(minutes=14), policy=policy) == []
    rows = escalate_due(now=T0 + timedelta(minutes=15), policy=policy)
    assert len(rows) == 2  # the CRITICAL rule to sre (pagerduty + email); LOW does not escalate
    deliver_due(now=T0 + timedelta(minutes=15), policy=policy)
    secondary = [e for e in channels_env.bodies("/v2/enqueue") if e["routing_key"] == "R0UTINGKEYSECONDARY"]
    assert [(e["event_action"], e["dedup_key"]) for e in secondary] == [("trigger", "dq-rule-error:orders_id_not_null")]
    assert "could not check" in secondary[0]["payload"]["summary"]

    # a second outage: acknowledged in time, so nobody else is woken
    with sqlite3.connect(warehouse) as conn:
        conn.execute("CREATE TABLE silver_orders (order_id INTEGER, coupon TEXT)")
    _at(monkeypatch, 20)
    run_suite("silver.orders")
    with sqlite3.connect(warehouse) as conn:
        conn.execute("DROP TABLE silver_orders")
    _at(monkeypatch, 30)
    run_suite("silver.orders")
    with db.read() as conn:
        [critical] = [v for v in outbox.unacknowledged(conn, ["CRITICAL"])]
    assert critical.verdict == "ERROR"
    acknowledge([critical.id], "oncall@company.com", "restoring the table")
    assert escalate_due(now=T0 + timedelta(minutes=60), policy=policy) == []


def test_recovery_of_a_could_not_check_resolves_the_pagerduty_incident(warehouse, channels_env, smtp_receiver, monkeypatch) -> None:
    with sqlite3.connect(warehouse) as conn:
        conn.execute("ALTER TABLE silver_orders RENAME TO gone")
    run_suite("silver.orders")
    deliver_due(now=_at(monkeypatch, 1))
    with sqlite3.connect(warehouse) as conn:
        conn.execute("CREATE TABLE silver_orders (order_id INTEGER, coupon TEXT)")
        conn.execute("INSERT INTO silver_orders VALUES (1, 'x')")
    _at(monkeypatch, 5)
    run_suite("silver.orders")
    deliver_due(now=_at(monkeypatch, 6))
    events = [(e["event_action"], e["dedup_key"]) for e in channels_env.bodies("/v2/enqueue")]
    assert events == [("trigger", "dq-rule-error:orders_id_not_null"), ("resolve", "dq-rule-error:orders_id_not_null")]
    assert channels_env.bodies(SLACK)[-1]["text"] == "DQ: 2 checked again in silver.orders"


def test_a_timed_out_scheduled_run_pages_too(warehouse, channels_env, smtp_receiver, monkeypatch) -> None:
    """The scheduler closes a run it stopped after its timeout with ERROR results but enqueues nothing:
    the delivery job alerts every open episode that was recorded without an alert."""
    from ops.cron import DueWork
    from scheduler import dispatch
    from store.rules import live_suite

    suite = live_suite("silver.orders")
    job = dispatch.claim_due(DueWork("silver.orders", T0, None), suite, "sched-a", 60)
    assert job is not None
    dispatch.finish(job, suite, "sched-a", dispatch.timed_out_message(30))  # the child was killed at 30 s
    report = deliver_due(now=_at(monkeypatch, 1))
    assert report.errors == ()
    [slack] = channels_env.bodies(SLACK)
    assert slack["text"] == "DQ: 2 could not check in silver.orders"
    assert "the suite ran longer than 30s and was stopped" in slack["blocks"][1]["text"]["text"]
    [page] = channels_env.bodies("/v2/enqueue")
    assert page["dedup_key"] == "dq-rule-error:orders_id_not_null"
    assert deliver_due(now=_at(monkeypatch, 2)).messages == 0  # once
