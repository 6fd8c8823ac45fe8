"""Escalation in time: a violation nobody acknowledged goes to the next level's team on its severity's clock.

The clock starts at the violation's first (unsuppressed) trigger; level n is due at the n-th step
of the severity (config/alerting.yaml `escalation.steps`, by default the runbook's response times:
CRITICAL 15 min, HIGH 30 min, MEDIUM 2 h, LOW 24 h). Each level is written once per violation, as
outbox rows of kind `escalation` plus an audit row, so the console shows it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

import clock
from alerting import messages
from alerting.policy import EscalationLevel, Policy, current_policy
from alerting.rows import outbox_row
from alerting.targets import targets_for
from store import alerts as outbox
from store import audit, db
from store.alerts import NewAlert, ViolationFacts

_log = logging.getLogger(__name__)


def escalate_due(now: datetime | None = None, engine: Engine | None = None, policy: Policy | None = None) -> list[int]:
    """Write the escalations that are due; returns the new outbox row ids."""
    now = now or clock.utcnow()
    policy = policy or current_policy()
    if not policy.levels or not policy.escalation_severities:
        return []
    with db.write(engine) as conn:
        candidates = [
            v for v in outbox.unacknowledged(conn, policy.escalation_severities)
            if not (v.snoozed_until and v.snoozed_until > now) and outbox.active_bypass(conn, v.suite, now) is None
        ]
        ids = [v.id for v in candidates]
        started = outbox.first_alarms(conn, ids)
        written = outbox.escalation_levels(conn, ids)
        new: list[NewAlert] = []
        for v in candidates:
            if v.id not in started:
                continue  # never alerted (suppressed): nothing to escalate
            for level in policy.levels:
                minutes = policy.step_minutes(v.severity, level.level)
                if minutes is None or level.level in written.get(v.id, set()):
                    continue
                if now < started[v.id] + timedelta(minutes=minutes):
                    continue
                rows = _level_rows(policy, v, level, minutes, now)
                new += rows
                audit.record(
                    conn, "alerting", "violation.escalated", "violation", v.id,
                    level=level.level, team=level.team, after_minutes=minutes,
                    channels=[r.channel for r in rows],
                )
                _log.warning("violation #%s (%s) escalated to %s, level %s", v.id, v.rule_name, level.team, level.level)
        return outbox.add(conn, new, now)


def level_channels(policy: Policy, severity: str, level: EscalationLevel) -> tuple[str, ...]:
    """The level's channels that the severity uses (a MEDIUM escalation pages nobody); all of them if none is."""
    allowed = policy.channels_for(severity)
    return tuple(c for c in level.channels if c in allowed) or level.channels


def _level_rows(policy: Policy, v: ViolationFacts, level: EscalationLevel, minutes: float, now: datetime) -> list[NewAlert]:
    team = policy.teams[level.team]
    payload = messages.payload(v, "escalated", level=level.level, team=team.name, after_minutes=minutes)
    channels = level_channels(policy, v.severity, level)
    # escalations do not wait for a batch
    return [outbox_row(v, "escalation", t, payload, send_at=now) for t in targets_for(team, channels)]
