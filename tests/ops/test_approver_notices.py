"""Approvers of a waiting bypass request are told when it is filed, and again if unanswered after 1 h
(issue 13, deliverable 7). Measured before: nobody was told a request was waiting.

The approvers come from the shipped config/roles.yaml and config/approval_matrix.yaml; e-mails go to
a real SMTP receiver on 127.0.0.1.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from alerting.deliver import deliver_due
from ops import approver_notices, housekeeping
from ops import bypass as bypass_ops
from ops.roles import user
from store import alerts as outbox
from store import bypass, db
from store.schema import audit_log, violations
from tests.bypass_rows import add_blocked_suite, checklist

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
ONCALL, LEAD, LEAD2, MANAGER = "oncall@company.com", "data-eng-lead@company.com", "lead2@company.com", "manager@company.com"


@pytest.fixture(autouse=True)
def frozen(store_url: str, channels_env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DQ_NOW", T0.isoformat())
    add_blocked_suite("silver.orders", "silver")  # a bypass is filed only while a blocking rule fails
    add_blocked_suite("gold.revenue", "gold")
    with db.write() as conn:  # on-call has seen those failures: only the bypass notices are sent here
        conn.execute(violations.update().values(status="acknowledged", acknowledged=True,
                                                acknowledged_by=ONCALL, acknowledged_at=T0))


def _body(message) -> str:
    return message.get_payload(decode=True).decode()


def _mailed(smtp_receiver) -> list[tuple[str, ...]]:
    return [tuple(rcpt) for _, rcpt in smtp_receiver.envelopes]


def _at(monkeypatch, minutes: float) -> datetime:
    now = T0 + timedelta(minutes=minutes)
    monkeypatch.setenv("DQ_NOW", now.isoformat())
    return now


def test_the_data_eng_leads_are_mailed_when_a_silver_request_is_filed_then_reminded_after_an_hour(smtp_receiver, monkeypatch) -> None:
    request_id = bypass_ops.request(user(ONCALL), checklist("silver.orders"))
    deliver_due(now=T0)
    assert sorted(_mailed(smtp_receiver)) == [(LEAD,), (LEAD2,)]  # not the manager, the admin or the requester
    body = _body(smtp_receiver.messages[0])
    assert f"Bypass #{request_id} on silver.orders (silver) waits for approval by data_eng_lead" in body
    assert "incident INC-42 https://jira.example.com/browse/INC-42" in body
    assert "https://dq.company.com/bypass_requests" in body

    assert approver_notices.notify_approvers(_at(monkeypatch, 59)) == []  # filed once, not yet due again
    reminder = approver_notices.notify_approvers(_at(monkeypatch, 60))
    assert len(reminder) == 3  # the console's copy + one e-mail per lead
    deliver_due(now=_at(monkeypatch, 60))
    assert sorted(_mailed(smtp_receiver)[2:]) == [(LEAD,), (LEAD2,)]
    assert "REMINDER, unanswered after 60 min: bypass #" in _body(smtp_receiver.messages[-1])
    assert approver_notices.notify_approvers(_at(monkeypatch, 600)) == []  # reminded once
    with db.read() as conn:
        audits = conn.execute(sa.select(audit_log.c.details).where(audit_log.c.action == "bypass.approvers_notified")).scalars().all()
    assert [a["stages"] for a in audits] == [["filed"], ["reminder"]]
    assert audits[0]["approvers"] == [LEAD, LEAD2]


def test_a_gold_request_half_approved_reminds_only_the_manager(smtp_receiver, monkeypatch) -> None:
    request_id = bypass_ops.request(user(LEAD2), checklist("gold.revenue"))
    deliver_due(now=T0)
    assert sorted(_mailed(smtp_receiver)) == [(LEAD,), (MANAGER,)]  # the requesting lead is not asked
    bypass.approve(user(LEAD), request_id)
    approver_notices.notify_approvers(_at(monkeypatch, 61))
    deliver_due(now=_at(monkeypatch, 61))
    assert _mailed(smtp_receiver)[2:] == [(MANAGER,)]
    assert "waits for approval by manager (manager@company.com)" in _body(smtp_receiver.messages[-1])


def test_an_answered_request_is_not_reminded(smtp_receiver, monkeypatch) -> None:
    request_id = bypass_ops.request(user(ONCALL), checklist("silver.orders"))
    bypass.reject(user(LEAD), request_id, "fix the data instead")
    assert approver_notices.notify_approvers(_at(monkeypatch, 90)) == []


def test_without_email_the_teams_slack_names_the_approvers(channels_env, monkeypatch) -> None:
    monkeypatch.setenv("DQ_SMTP_HOST", "")
    bypass_ops.request(user(ONCALL), checklist("silver.orders"))
    deliver_due(now=T0)
    [slack] = channels_env.bodies("/slack/T000/B000/secret-token")
    text = slack["blocks"][1]["text"]["text"]
    assert "waits for approval by data_eng_lead (data-eng-lead@company.com, lead2@company.com)" in text
    with db.read() as conn:
        assert {(a.channel, a.status) for a in outbox.recent(conn)} == {("store", "sent"), ("slack", "sent")}


def test_the_scheduler_runs_the_notices_every_30_seconds() -> None:
    jobs = {job.name: job for job in housekeeping.jobs()}
    assert jobs["ops.approver_notices.notify_bypass_approvers"].every_seconds == 30
