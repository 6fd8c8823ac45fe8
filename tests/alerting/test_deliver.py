import logging
import threading
from datetime import timedelta

import sqlalchemy as sa

from alerting.deliver import deliver_due
from store import alerts as outbox
from store import db
from store.schema import audit_log
from tests.alerting.conftest import (
    T0,
    Recorded,
    add_violation,
    enqueue,
    make_suite,
    update_violation,
)

SLACK = "/slack/T000/B000/secret-token"
LATER = T0 + timedelta(seconds=30)  # the end of the batching window


def _link(vid: int) -> str:
    return f"https://dq.company.com/violations?violation={vid}"


def _alerts(**where) -> list[outbox.Alert]:
    with db.read() as conn:
        rows = list(reversed(outbox.recent(conn)))
    return [r for r in rows if all(getattr(r, k) == v for k, v in where.items())]


def test_one_run_goes_out_as_one_message_per_channel_and_destination(store_url, channels_env, smtp_receiver, policy) -> None:
    critical = add_violation("orders_id_not_null", "CRITICAL")
    medium = add_violation("orders_amount_positive", "MEDIUM")
    low = add_violation("orders_note_length", "LOW")
    enqueue(Recorded(7, opened=[low, medium, critical]), policy)

    assert deliver_due(now=T0 + timedelta(seconds=29), policy=policy).messages == 0  # still batching
    report = deliver_due(now=LATER, policy=policy)

    assert (report.messages, report.sent, report.errors) == (3, 6, ())
    assert channels_env.bodies(SLACK) == [
        {
            "text": "DQ: 3 new violations in silver.orders",
            "channel": "#sales-dq",
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": "DQ: 3 new violations in silver.orders"}},
                *(
                    {"type": "section", "text": {"type": "mrkdwn", "text": (
                        f":red_circle: [{sev}] {rule} on silver.orders: new violation - {rule}: 3 of 100 rows fail\n"
                        f"<{_link(vid)}|Open violation #{vid}>"
                    )}}
                    for vid, sev, rule in (
                        (critical, "CRITICAL", "orders_id_not_null"),
                        (medium, "MEDIUM", "orders_amount_positive"),
                        (low, "LOW", "orders_note_length"),
                    )
                ),
            ],
        }
    ]
    [email] = smtp_receiver.messages
    assert email["Subject"] == "[DQ CRITICAL] DQ: 2 new violations in silver.orders"
    assert (email["From"], email["To"]) == ("dq@company.com", "sales-data@company.com")
    assert smtp_receiver.envelopes == [("dq@company.com", ["sales-data@company.com"])]
    assert email.get_payload(decode=True).decode().splitlines()[:4] == [
        "DQ: 2 new violations in silver.orders",
        "",
        "[CRITICAL] orders_id_not_null on silver.orders: new violation - orders_id_not_null: 3 of 100 rows fail",
        f"  {_link(critical)}",
    ]
    [event] = channels_env.bodies("/v2/enqueue")
    assert event == {
        "routing_key": "R0UTINGKEYPRIMARY",
        "event_action": "trigger",
        "dedup_key": "dq-rule:orders_id_not_null",
        "payload": {
            "summary": "[CRITICAL] orders_id_not_null on silver.orders: new violation - orders_id_not_null: 3 of 100 rows fail",
            "source": "dq-console/warehouse",
            "severity": "critical",
            "component": "silver.orders",
            "group": "silver.orders",
            "class": "not_null",
            "custom_details": {
                "rule": "orders_id_not_null", "event": "new", "violation_id": critical, "observed_value": 3.0,
                "threshold": "more than 0 rows", "failing_rows": 3, "occurrences": 1,
                "detected_at": "2026-03-02T09:00:00+00:00",
            },
        },
        "links": [{"href": _link(critical), "text": f"Violation #{critical} in the DQ console"}],
    }
    assert {(a.status, a.sent_at) for a in _alerts()} == {("sent", LATER)}
    assert deliver_due(now=LATER + timedelta(hours=1), policy=policy).messages == 0  # a sent row is never re-sent
    assert len(channels_env.requests) == 2


def test_violations_within_the_window_join_the_batch(sqlite_store, channels_env, policy) -> None:
    first = add_violation("orders_note_length", "LOW")
    enqueue(Recorded(1, opened=[first]), policy, T0)
    second = add_violation("orders_note_length_2", "LOW", suite="silver.orders_archive")
    policy = type(policy)(**{**policy.__dict__, "by_suite": {"silver.orders_archive": "sales", "silver.orders": "sales"}})
    enqueue(Recorded(2, opened=[second]), policy, T0 + timedelta(seconds=20), make_suite("silver.orders_archive"))
    deliver_due(now=LATER, policy=policy)
    [message] = channels_env.bodies(SLACK)
    assert message["text"] == "DQ: 2 new violations in 2 suites"
    assert len(message["blocks"]) == 3


def test_pagerduty_resolve_uses_the_rules_dedup_key(sqlite_store, channels_env, smtp_receiver, policy) -> None:
    vid = add_violation("orders_id_not_null", "CRITICAL")
    enqueue(Recorded(1, opened=[vid]), policy)
    deliver_due(now=LATER, policy=policy)
    update_violation(vid, status="resolved", resolved_at=T0 + timedelta(minutes=5))
    enqueue(Recorded(2, resolved=[vid]), policy, T0 + timedelta(minutes=5))
    deliver_due(now=T0 + timedelta(minutes=6), policy=policy)
    events = channels_env.bodies("/v2/enqueue")
    assert [e["event_action"] for e in events] == ["trigger", "resolve"]
    assert events[1] == {"routing_key": "R0UTINGKEYPRIMARY", "event_action": "resolve", "dedup_key": "dq-rule:orders_id_not_null"}
    recovered = channels_env.bodies(SLACK)[1]
    assert recovered["text"] == "DQ: 1 recovered in silver.orders"
    assert recovered["blocks"][1]["text"]["text"].startswith(
        ":large_green_circle: [CRITICAL] orders_id_not_null on silver.orders: recovered, the rule passes again"
    )
    assert smtp_receiver.messages[1]["Subject"] == "[DQ CRITICAL] DQ: 1 recovered in silver.orders"


def test_a_receiver_answering_500_then_200_gets_the_alert_on_retry(store_url, channels_env, policy) -> None:
    vid = add_violation("orders_note_length", "LOW")
    enqueue(Recorded(1, opened=[vid]), policy)
    channels_env.statuses[:] = [500]

    first = deliver_due(now=LATER, policy=policy)
    [row] = _alerts()
    assert (first.retrying, row.status, row.attempts) == (1, "pending", 1)
    assert row.next_attempt_at == LATER + timedelta(seconds=30)
    assert row.last_error.startswith("Slack (DQ_SLACK_WEBHOOK_URL) answered HTTP 500")
    with db.read() as conn:
        assert [a.id for a in outbox.failed_deliveries(conn)] == [row.id]  # visible while it retries

    assert deliver_due(now=LATER + timedelta(seconds=29), policy=policy).messages == 0  # backing off
    second = deliver_due(now=LATER + timedelta(seconds=30), policy=policy)
    [row] = _alerts()
    assert (second.sent, row.status, row.attempts, row.last_error) == (1, "sent", 2, None)
    bodies = channels_env.bodies(SLACK)
    assert len(bodies) == 2 and bodies[0] == bodies[1]


def test_backoff_doubles_and_gives_up_after_max_attempts(sqlite_store, channels_env, policy) -> None:
    vid = add_violation("orders_note_length", "LOW")
    enqueue(Recorded(1, opened=[vid]), policy)
    channels_env.statuses[:] = [503, 503, 503]
    now = LATER
    waits = []
    for _ in range(3):
        deliver_due(now=now, policy=policy)
        [row] = _alerts()
        if row.next_attempt_at:
            waits.append((row.next_attempt_at - now).total_seconds())
            now = row.next_attempt_at
    assert waits == [30, 60]
    assert (row.status, row.attempts) == ("failed", 3)
    with db.read() as conn:
        audit = conn.execute(sa.select(audit_log.c.action, audit_log.c.entity_id)).all()
    assert audit == [("alert.failed", str(row.id))]


def test_a_refused_payload_fails_at_once_and_is_listed(sqlite_store, channels_env, policy) -> None:
    vid = add_violation("orders_note_length", "LOW")
    enqueue(Recorded(1, opened=[vid]), policy)
    channels_env.statuses[:] = [400]
    report = deliver_due(now=LATER, policy=policy)
    assert (report.failed, report.retrying) == (1, 0)
    with db.read() as conn:
        [failed] = outbox.failed_deliveries(conn)
    assert failed.status == "failed"
    assert failed.last_error == (
        "Slack (DQ_SLACK_WEBHOOK_URL) answered HTTP 400: invalid_payload. Hint: check the setting's value."
    )
    assert outbox.retry_failed(db.get_engine(), LATER) == 1
    assert deliver_due(now=LATER, policy=policy).sent == 1


def test_an_unreachable_receiver_error_never_shows_the_secret_url(sqlite_store, channels_env, policy, monkeypatch, caplog) -> None:
    monkeypatch.setenv("DQ_SLACK_WEBHOOK_URL", "http://127.0.0.1:9/services/T000/B000/secret-token")
    vid = add_violation("orders_note_length", "LOW")
    enqueue(Recorded(1, opened=[vid]), policy)
    with caplog.at_level(logging.WARNING):
        deliver_due(now=LATER, policy=policy)
    [row] = _alerts()
    assert row.last_error.startswith("Slack (DQ_SLACK_WEBHOOK_URL) could not be reached:")
    assert "secret-token" not in row.last_error + caplog.text + row.destination


def test_an_interrupted_delivery_is_retried_after_the_claim_times_out(store_url, channels_env, policy) -> None:
    vid = add_violation("orders_note_length", "LOW")
    enqueue(Recorded(1, opened=[vid]), policy)
    [stale] = outbox.claim_due(db.get_engine(), LATER, policy.claim_timeout_seconds)  # then the scheduler died

    assert deliver_due(now=LATER + timedelta(seconds=299), policy=policy).messages == 0
    assert deliver_due(now=LATER + timedelta(seconds=300), policy=policy).sent == 1
    assert outbox.mark_sent(db.get_engine(), [stale], LATER) == 0  # the dead sender cannot re-mark it
    assert deliver_due(now=LATER + timedelta(hours=1), policy=policy).messages == 0
    assert len(channels_env.bodies(SLACK)) == 1


def test_concurrent_deliverers_send_each_message_once(store_url, channels_env, smtp_receiver, policy) -> None:
    vids = [add_violation(f"rule_{n}", "CRITICAL") for n in range(5)]
    enqueue(Recorded(1, opened=vids), policy)
    reports = []
    barrier = threading.Barrier(8)

    def run() -> None:
        barrier.wait()
        reports.append(deliver_due(now=LATER, policy=policy))

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.sent for r in reports) == 15, reports
    assert len(channels_env.bodies(SLACK)) == 1
    assert len(channels_env.bodies("/v2/enqueue")) == 5
    assert len(smtp_receiver.messages) == 1


def test_the_generic_webhook_gets_every_alert_with_an_idempotency_key(sqlite_store, channels_env, policy) -> None:
    policy = type(policy)(**{**policy.__dict__, "also_to": ("webhook",)})
    vid = add_violation("orders_note_length", "LOW")
    [slack_id, hook_id] = enqueue(Recorded(3, opened=[vid]), policy)
    deliver_due(now=LATER, policy=policy)
    [request] = [r for r in channels_env.requests if r.path == "/hook"]
    assert request.headers["Idempotency-Key"] == f"dq-alerts-{hook_id}"
    assert request.body["summary"] == "DQ: 1 new violation in silver.orders"
    [item] = request.body["alerts"]
    assert (item["alert_id"], item["kind"], item["rule"], item["run_id"], item["team"]) == (
        hook_id, "trigger", "orders_note_length", 3, "sales",
    )


def test_a_backlog_for_a_dead_receiver_does_not_starve_other_destinations(store_url) -> None:
    waiting = [outbox.NewAlert("trigger", "slack", "DQ_SLACK_WEBHOOK_URL", {"n": n},
                               next_attempt_at=T0 + timedelta(hours=1)) for n in range(3)]
    due = outbox.NewAlert("trigger", "email", "oncall@company.com", {"n": 9}, next_attempt_at=T0)
    with db.write() as conn:
        *_, due_id = outbox.add(conn, [*waiting, due], T0)
    claimed = outbox.claim_due(db.get_engine(), T0, 300, limit=2)
    assert [(row.id, row.status, row.attempts) for row in claimed] == [(due_id, "sending", 1)]


def test_a_teams_own_webhook_comes_from_secrets_toml(sqlite_store, receiver, policy, tmp_path, monkeypatch) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'[dq]\nDQ_SLACK_WEBHOOK_URL_SALES = "{receiver.url}/sales-hook"\n')
    monkeypatch.setenv("DQ_SECRETS_FILE", str(secrets))
    sales = type(policy.teams["sales"])("sales", slack_webhook_setting="DQ_SLACK_WEBHOOK_URL_SALES")
    policy = type(policy)(**{**policy.__dict__, "teams": {**policy.teams, "sales": sales}})
    vid = add_violation("orders_note_length", "LOW")
    enqueue(Recorded(1, opened=[vid]), policy)
    assert deliver_due(now=LATER, policy=policy).sent == 1
    [body] = receiver.bodies("/sales-hook")
    assert "channel" not in body  # the team's own webhook posts to its own channel
    with db.read() as conn:
        assert outbox.recent(conn)[0].destination == "DQ_SLACK_WEBHOOK_URL_SALES"
