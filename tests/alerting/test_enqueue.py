from datetime import timedelta

import sqlalchemy as sa

from alerting import enqueue_for_run
from ops.roles import User
from store import db
from store.alerts import recent
from store.bypass import approve, create_request
from store.schema import alerts, bypass_requests
from tests.alerting.conftest import (
    T0,
    Recorded,
    add_bypass,
    add_violation,
    make_suite,
    update_violation,
)
from tests.bypass_rows import add_blocked_suite, checklist


def _rows() -> list[tuple]:
    with db.read() as conn:
        query = sa.select(alerts.c.violation_id, alerts.c.kind, alerts.c.channel, alerts.c.destination, alerts.c.status)
        return [tuple(r) for r in conn.execute(query.order_by(alerts.c.id))]


def _enqueue(recorded: Recorded, policy, now=T0, suite=None) -> list[int]:
    with db.write() as conn:
        return enqueue_for_run(conn, recorded, None, suite or make_suite(), now=now, policy=policy)


def test_new_violations_go_to_the_severitys_channels_of_the_routed_team(sqlite_store, channels_env, policy) -> None:
    critical = add_violation("orders_id_not_null", "CRITICAL")
    low = add_violation("orders_note_length", "LOW")
    _enqueue(Recorded(1, opened=[critical, low]), policy)
    assert _rows() == [
        (critical, "trigger", "email", "sales-data@company.com", "pending"),
        (critical, "trigger", "slack", "DQ_SLACK_WEBHOOK_URL #sales-dq", "pending"),
        (critical, "trigger", "pagerduty", "DQ_PAGERDUTY_ROUTING_KEY", "pending"),
        (low, "trigger", "slack", "DQ_SLACK_WEBHOOK_URL #sales-dq", "pending"),
    ]
    with db.read() as conn:
        row = recent(conn, statuses=["pending"])[-1]
    assert row.dedup_key == "dq-rule:orders_id_not_null"
    assert row.next_attempt_at == T0 + timedelta(seconds=30)  # the batching window
    assert row.payload["event"] == "new" and row.payload["table"] == "silver.orders"
    assert row.payload["link"] == f"https://dq.company.com/violations?violation={critical}"


def test_owner_routing_applies_when_the_suite_has_no_route(sqlite_store, channels_env, policy) -> None:
    policy = type(policy)(**{**policy.__dict__, "by_owner": {"sales-analytics@company.com": "sales"}, "by_suite": {}})
    vid = add_violation("orders_note_length", "LOW", suite="gold.revenue")
    _enqueue(Recorded(1, opened=[vid]), policy, suite=make_suite("gold.revenue", owner="Sales-Analytics@company.com"))
    assert _rows() == [(vid, "trigger", "slack", "DQ_SLACK_WEBHOOK_URL #sales-dq", "pending")]


def test_with_no_channel_configured_alerts_are_recorded_for_the_console(sqlite_store, policy) -> None:
    vid = add_violation("orders_id_not_null", "CRITICAL")
    _enqueue(Recorded(1, opened=[vid]), policy)
    assert _rows() == [(vid, "trigger", "store", "console", "sent")]
    with db.read() as conn:
        assert recent(conn)[0].sent_at == T0


def test_a_still_failing_rule_alerts_once_per_cooldown(store_url, channels_env, policy) -> None:
    vid = add_violation("orders_note_length", "LOW")
    suite = make_suite(cooldown=30)
    _enqueue(Recorded(1, opened=[vid]), policy, T0, suite)
    _enqueue(Recorded(2, continued=[vid]), policy, T0 + timedelta(minutes=10), suite)
    _enqueue(Recorded(3, continued=[vid]), policy, T0 + timedelta(minutes=29), suite)
    _enqueue(Recorded(4, continued=[vid]), policy, T0 + timedelta(minutes=30), suite)
    with db.read() as conn:
        rows = list(reversed(recent(conn)))
    assert [(r.status, r.payload["event"]) for r in rows] == [
        ("pending", "new"), ("suppressed", "still_failing"), ("suppressed", "still_failing"), ("pending", "still_failing"),
    ]
    assert rows[1].suppressed_reason == (
        "cooldown 30 min: alerted at 2026-03-02T09:00:00+00:00, next reminder after 2026-03-02T09:30:00+00:00"
    )


def test_the_policy_default_cooldown_applies_to_rules_without_one(sqlite_store, channels_env, policy) -> None:
    vid = add_violation("orders_note_length", "LOW")
    _enqueue(Recorded(1, opened=[vid]), policy)
    _enqueue(Recorded(2, continued=[vid]), policy, T0 + timedelta(minutes=59))
    _enqueue(Recorded(3, continued=[vid]), policy, T0 + timedelta(minutes=60))
    assert [r[4] for r in _rows()] == ["pending", "suppressed", "pending"]


def test_snoozed_violations_are_suppressed_until_the_snooze_ends(sqlite_store, channels_env, policy) -> None:
    vid = add_violation("orders_note_length", "LOW", snoozed_until=T0 + timedelta(hours=2))
    _enqueue(Recorded(1, opened=[vid]), policy)
    _enqueue(Recorded(2, continued=[vid]), policy, T0 + timedelta(hours=2, minutes=1))
    assert _rows() == [
        (vid, "trigger", "store", "console", "suppressed"),
        (vid, "trigger", "slack", "DQ_SLACK_WEBHOOK_URL #sales-dq", "pending"),
    ]
    with db.read() as conn:
        assert recent(conn)[-1].suppressed_reason == "snoozed until 2026-03-02T11:00:00+00:00"


def _approved_bypass(monkeypatch, hours: float = 4) -> int:
    """A bypass requested and approved through the store, active from T0 for `hours`."""
    monkeypatch.setenv("DQ_NOW", T0.isoformat())
    add_blocked_suite("silver.orders")
    request_id = create_request(User("req@company.com", frozenset({"on_call"})), checklist("silver.orders", hours=hours))
    approve(User("data-eng-lead@company.com", frozenset({"data_eng_lead"})), request_id)
    monkeypatch.delenv("DQ_NOW")
    return request_id


def test_an_active_bypass_silences_the_table_and_says_so(store_url, channels_env, policy, monkeypatch) -> None:
    add_bypass("silver.orders", T0 - timedelta(hours=1), status="active")  # unsigned and expired: no effect
    add_bypass("silver.orders", T0 + timedelta(hours=1), status="rejected")
    bypass = _approved_bypass(monkeypatch)
    vid = add_violation("orders_id_not_null", "CRITICAL")
    _enqueue(Recorded(1, opened=[vid]), policy)
    with db.read() as conn:
        [row] = recent(conn)
    assert (row.status, row.channel) == ("suppressed", "store")
    assert row.suppressed_reason == f"bypass #{bypass} active on silver.orders until 2026-03-02T13:00:00+00:00"


def test_a_tampered_bypass_silences_nothing(store_url, channels_env, policy, monkeypatch) -> None:
    bypass = _approved_bypass(monkeypatch)
    with db.write() as conn:  # someone stretches the bypass by hand in the database
        conn.execute(bypass_requests.update().where(bypass_requests.c.id == bypass)
                     .values(expires_at=T0 + timedelta(hours=72)))
    vid = add_violation("orders_id_not_null", "CRITICAL")
    _enqueue(Recorded(1, opened=[vid]), policy)
    with db.read() as conn:
        assert all(row.status == "pending" for row in recent(conn))


def test_acknowledged_violations_get_no_reminders(sqlite_store, channels_env, policy) -> None:
    vid = add_violation("orders_note_length", "LOW")
    _enqueue(Recorded(1, opened=[vid]), policy)
    update_violation(vid, acknowledged=True, acknowledged_by="oncall@company.com", status="acknowledged")
    _enqueue(Recorded(2, continued=[vid]), policy, T0 + timedelta(hours=3))
    with db.read() as conn:
        assert recent(conn)[0].suppressed_reason == "acknowledged by oncall@company.com; no reminders"


def test_recovery_goes_wherever_the_alarm_went(store_url, channels_env, policy) -> None:
    vid = add_violation("orders_id_not_null", "CRITICAL")
    quiet = add_violation("orders_note_length", "LOW", snoozed_until=T0 + timedelta(days=1))
    _enqueue(Recorded(1, opened=[vid, quiet]), policy)
    update_violation(vid, status="resolved", resolved_at=T0 + timedelta(minutes=5))
    before = len(_rows())
    _enqueue(Recorded(2, resolved=[vid, quiet]), policy, T0 + timedelta(minutes=5))
    assert _rows()[before:] == [
        (vid, "resolve", "email", "sales-data@company.com", "pending"),
        (vid, "resolve", "pagerduty", "DQ_PAGERDUTY_ROUTING_KEY", "pending"),
        (vid, "resolve", "slack", "DQ_SLACK_WEBHOOK_URL #sales-dq", "pending"),
        (quiet, "resolve", "store", "console", "suppressed"),
    ]


def test_enqueue_is_part_of_the_callers_transaction(sqlite_store, channels_env, policy) -> None:
    vid = add_violation("orders_id_not_null", "CRITICAL")
    try:
        with db.write() as conn:
            enqueue_for_run(conn, Recorded(1, opened=[vid]), None, make_suite(), now=T0, policy=policy)
            raise RuntimeError("the run could not be recorded")
    except RuntimeError:
        pass
    assert _rows() == []


def test_a_nan_observation_is_stored_as_null_not_invalid_json(store_url, channels_env, policy) -> None:
    vid = add_violation("orders_note_length", "LOW", observed_value=float("nan"))
    _enqueue(Recorded(1, opened=[vid]), policy)
    with db.read() as conn:
        assert recent(conn)[0].payload["observed_value"] is None
