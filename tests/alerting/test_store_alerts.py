from datetime import timedelta

from alerting.deliver import deliver_due
from store import alerts as outbox
from store import db
from tests.alerting.conftest import T0, Recorded, add_violation, enqueue, update_violation


def test_response_time_is_acknowledgement_minus_first_alert_sent(store_url, channels_env, policy) -> None:
    answered = add_violation("orders_id_not_null", "LOW")
    waiting = add_violation("orders_amount_positive", "LOW")
    silenced = add_violation("orders_note_length", "LOW", snoozed_until=T0 + timedelta(days=1))
    enqueue(Recorded(1, opened=[answered, waiting, silenced]), policy)
    deliver_due(now=T0 + timedelta(seconds=30), policy=policy)
    update_violation(answered, acknowledged=True, acknowledged_by="oncall@company.com",
                     acknowledged_at=T0 + timedelta(minutes=12), status="acknowledged")
    with db.read() as conn:
        times = outbox.response_times(conn, since=T0 - timedelta(days=1))
    assert [(t.violation_id, t.first_alert_sent_at, t.minutes, t.acknowledged_by) for t in times] == [
        (answered, T0 + timedelta(seconds=30), 11.5, "oncall@company.com"),
        (waiting, T0 + timedelta(seconds=30), None, None),
    ]


def test_console_queries_list_recent_failed_and_per_violation_alerts(store_url, channels_env, policy) -> None:
    vid = add_violation("orders_note_length", "LOW")
    other = add_violation("orders_amount_positive", "LOW", snoozed_until=T0 + timedelta(hours=1))
    enqueue(Recorded(1, opened=[vid, other]), policy)
    channels_env.statuses[:] = [400]
    deliver_due(now=T0 + timedelta(seconds=30), policy=policy)
    with db.read() as conn:
        assert [(a.violation_id, a.status) for a in outbox.recent(conn)] == [(other, "suppressed"), (vid, "failed")]
        assert [a.violation_id for a in outbox.recent(conn, statuses=["suppressed"])] == [other]
        assert [a.violation_id for a in outbox.failed_deliveries(conn)] == [vid]
        assert [a.kind for a in outbox.for_violation(conn, vid)] == ["trigger"]
        assert outbox.status_counts(conn, since=T0) == {"failed": 1, "suppressed": 1}
