"""Notices other features queue in the outbox (a bypass rolled back): routed to the suite's team.

Such a row is a pending `store` row without a destination. Routing writes one row per configured
channel of the team for the notice's severity (PagerDuty left out: a notice has no incident to
resolve later) and records the original row as the console's copy.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Engine

from alerting.policy import Policy
from alerting.targets import STORE, targets_for
from store import alerts as outbox
from store import db
from store.alerts import NewAlert


def route_notices(now: datetime, policy: Policy, engine: Engine | None = None) -> int:
    """Fan queued notices out to their team's channels; returns how many rows were written."""
    with db.write(engine) as conn:
        new: list[NewAlert] = []
        for notice in outbox.unrouted(conn):
            team = policy.team_for(notice.suite or "", ())
            channels = tuple(c for c in policy.channels_for(notice.severity or "HIGH") if c != "pagerduty")
            for target in targets_for(team, channels):
                if target == STORE:
                    continue
                new.append(
                    NewAlert(
                        kind=notice.kind, channel=target.channel, destination=target.destination,
                        payload={"severity": notice.severity, "suite": notice.suite, **notice.payload, "team": team.name},
                        violation_id=notice.violation_id,
                        rule_name=notice.rule_name, suite=notice.suite, severity=notice.severity,
                        dedup_key=notice.dedup_key, next_attempt_at=now,
                    )
                )
            outbox.mark_routed(conn, notice.id, now)
        outbox.add(conn, new, now)
        return len(new)
