"""Delivery says what it did in the runbook's words: `Alert sent for rule X`, `Alert failed for rule X`,
one line per outbox row, counted in dq_alerts_total."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from alerting.deliver import deliver_due
from telemetry import counters
from tests.alerting.conftest import T0, Recorded, add_violation, enqueue

LATER = T0 + timedelta(seconds=30)  # the end of the batching window


def _lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "alerting.deliver"]


def _count(outcome: str) -> float:
    return counters.ALERTS.labels("slack", "LOW", outcome)._value.get()


def test_a_failed_then_sent_alert_logs_both_with_rule_channel_and_severity(
        sqlite_store, channels_env, policy, caplog: pytest.LogCaptureFixture) -> None:
    vid = add_violation("orders_note_length", "LOW")
    enqueue(Recorded(1, opened=[vid]), policy)
    channels_env.statuses[:] = [500]
    retrying, sent = _count("retrying"), _count("sent")
    with caplog.at_level(logging.INFO, logger="alerting.deliver"):
        deliver_due(now=LATER, policy=policy)
        deliver_due(now=LATER + timedelta(seconds=30), policy=policy)
    (failed_level, failed), (sent_level, sent_line) = _lines(caplog)
    assert failed_level == "WARNING"
    assert failed.startswith("Alert failed for rule orders_note_length: channel=slack destination=")
    assert "severity=LOW suite=silver.orders" in failed and f"violation_id={vid}" in failed
    assert "outcome=retrying" in failed and "retry_at=" in failed and "answered HTTP 500" in failed
    assert sent_level == "INFO"
    assert sent_line.startswith("Alert sent for rule orders_note_length: channel=slack destination=")
    assert "attempt=2" in sent_line and "secret-token" not in failed + sent_line
    assert (_count("retrying"), _count("sent")) == (retrying + 1, sent + 1)


def test_a_refused_alert_is_an_error_line(sqlite_store, channels_env, policy, caplog: pytest.LogCaptureFixture) -> None:
    vid = add_violation("orders_note_length", "LOW")
    enqueue(Recorded(1, opened=[vid]), policy)
    channels_env.statuses[:] = [400]
    failed = _count("failed")
    with caplog.at_level(logging.INFO, logger="alerting.deliver"):
        deliver_due(now=LATER, policy=policy)
    ((level, line),) = _lines(caplog)
    assert level == "ERROR" and line.startswith("Alert failed for rule orders_note_length:") and "outcome=failed" in line
    assert _count("failed") == failed + 1
