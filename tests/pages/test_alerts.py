"""The Alerts page under AppTest (through app.py) against a real SQLite store."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alerting.escalate import escalate_due
from store import alerts as outbox
from store import db
from store.schema import alerts
from tests.alerting.conftest import T0, Recorded, add_violation, enqueue, update_violation

PAGE = "pages/alerts.py"
NOW = (T0 + timedelta(minutes=30)).isoformat()


@pytest.fixture(autouse=True)
def store(sqlite_store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from alerting.policy import current_policy

    monkeypatch.setenv("DQ_NOW", NOW)
    policy = current_policy()  # the shipped config/alerting.yaml; no channel configured -> store
    answered = add_violation("orders_id_not_null", "CRITICAL")
    ignored = add_violation("orders_amount_positive", "HIGH")
    snoozed = add_violation("orders_note_length", "LOW", snoozed_until=T0 + timedelta(days=1))
    enqueue(Recorded(1, opened=[answered, ignored, snoozed]), policy)
    update_violation(answered, acknowledged=True, acknowledged_at=T0 + timedelta(minutes=6), status="acknowledged")
    escalate_due(now=T0 + timedelta(minutes=30), policy=policy)  # HIGH escalates after the runbook's 30 min
    with db.write() as conn:
        conn.execute(alerts.insert().values(
            kind="trigger", channel="slack", destination="DQ_SLACK_WEBHOOK_URL", payload={}, status="failed",
            attempts=8, last_error="Slack (DQ_SLACK_WEBHOOK_URL) answered HTTP 404: no_service", created_at=T0,
            violation_id=ignored, rule_name="orders_amount_positive", suite="silver.orders", severity="HIGH",
        ))


def test_the_page_shows_counts_response_time_failures_and_escalations(open_page, monkeypatch) -> None:
    monkeypatch.setenv("DQ_NOW", NOW)  # open_page froze its own time; the data is from T0
    app = open_page(PAGE)
    metrics = {m.label: m.value for m in app.metric}
    assert metrics == {"Sent": "3", "Waiting": "0", "Failed": "1", "Suppressed": "1", "Alert response time": "6.0 min"}
    failed, escalations, everything = (frame.value for frame in app.dataframe)
    assert list(failed["last_error"]) == ["Slack (DQ_SLACK_WEBHOOK_URL) answered HTTP 404: no_service"]
    assert list(escalations["rule_name"]) == ["rule?name=orders_amount_positive"]  # a link to the rule page
    assert list(escalations["channel"]) == ["store"]
    assert sorted(everything["status"]) == ["failed", "sent", "sent", "sent", "suppressed"]


def test_retry_queues_failed_alerts_again(open_page, monkeypatch) -> None:
    monkeypatch.setenv("DQ_NOW", NOW)
    app = open_page(PAGE)
    app.button(key="a_retry").click().run()
    assert not app.exception, app.exception
    assert app.success[0].value.startswith("1 alert(s) queued again")
    with db.read() as conn:
        assert [a.status for a in outbox.failed_deliveries(conn)] == ["pending"]  # retrying, error kept until sent


def test_the_kind_filter_offers_every_kind_the_outbox_writes(open_page, monkeypatch) -> None:
    monkeypatch.setenv("DQ_NOW", NOW)
    app = open_page(PAGE)
    assert list(app.multiselect(key="a_kind").options) == list(outbox.KINDS)
    assert {"could_not_check", "bypass_approval", "report"} <= set(app.multiselect(key="a_kind").options)
    assert list(app.multiselect(key="a_status").options) == list(outbox.STATUSES)
