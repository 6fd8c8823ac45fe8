"""Turning a recorded run into outbox rows: triggers, reminders past the cooldown, recoveries, suppressions.

Called by ops.run_checks.run_suite inside the transaction that records the run, so a run and
its alerts are stored together or not at all. Nothing is sent here; the delivery job sends.
`enqueue_missed` is the delivery job's safety net for runs recorded by anyone who enqueued nothing
(the scheduler closing a run it stopped after its timeout): no recorded episode goes unalerted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.engine import Connection

import clock
import settings
from alerting import messages
from alerting.policy import Policy, Team, current_policy
from alerting.rows import outbox_row
from alerting.targets import STORE, Target, targets_for
from store import alerts as outbox
from store import db
from store.alerts import ActiveBypass, NewAlert, ViolationFacts
from store.rules import live_suites

MISSED_WINDOW = timedelta(days=1)  # older unalerted episodes (e.g. from before an upgrade) stay quiet


class RecordedRunLike(Protocol):
    @property
    def run_id(self) -> int: ...
    @property
    def opened(self) -> list[int]: ...
    @property
    def continued(self) -> list[int]: ...
    @property
    def resolved(self) -> list[int]: ...


@dataclass(frozen=True)
class _RunContext:
    suite: Any  # engine.model.Suite
    run_id: int | None
    now: datetime
    policy: Policy
    bypass: ActiveBypass | None
    console_url: str = ""
    send_now: bool = False  # catching up: the batching window has passed already
    targets: dict[tuple[str, tuple[str, ...]], list[Target]] = field(default_factory=dict)

    def targets_for(self, team: Team, channels: tuple[str, ...]) -> list[Target]:
        """Resolved once per run: settings (and secrets.toml) are read once, not per violation."""
        key = (team.name, channels)
        if key not in self.targets:
            self.targets[key] = targets_for(team, channels)
        return self.targets[key]


def enqueue_for_run(
    conn: Connection,
    recorded: RecordedRunLike,
    report: object,
    suite: Any,
    *,
    now: datetime | None = None,
    policy: Policy | None = None,
) -> list[int]:
    """Write the run's alerts into the outbox (the caller's transaction); returns the row ids."""
    now = now or clock.utcnow()
    ctx = _RunContext(
        suite, recorded.run_id, now, policy or current_policy(), outbox.active_bypass(conn, suite.name, now),
        console_url=str(settings.get("DQ_CONSOLE_URL")),
    )
    wanted = [*recorded.opened, *recorded.continued, *recorded.resolved]
    facts = {v.id: v for v in outbox.violation_facts(conn, wanted)}
    new: list[NewAlert] = []
    for vid in recorded.opened:
        if vid in facts:
            new += _trigger(conn, ctx, facts[vid], "new")
    for vid in recorded.continued:
        if vid in facts:
            new += _trigger(conn, ctx, facts[vid], "still_failing")
    for vid in recorded.resolved:
        if vid in facts:
            new += _resolve(conn, ctx, facts[vid])
    return outbox.add(conn, new, now)


def enqueue_missed(now: datetime, policy: Policy, engine: Any = None) -> list[int]:
    """Write the "new" alerts of open episodes detected within MISSED_WINDOW that have no outbox row."""
    since = now - MISSED_WINDOW
    with db.read(engine) as conn:
        missed = outbox.unalerted(conn, since)
    if not missed:
        return []
    wanted = {v.suite for v in missed}
    suites = {s.name: s for s in live_suites(engine) if s.name in wanted}
    console_url = str(settings.get("DQ_CONSOLE_URL"))
    with db.write(engine) as conn:
        outbox.one_enqueuer_at_a_time(conn)
        new: list[NewAlert] = []
        for v in outbox.unalerted(conn, since):  # again, under the lock: another deliverer may have been first
            suite = suites.get(v.suite)
            if suite is None:
                continue  # a suite no longer live: nobody can act on it
            ctx = _RunContext(suite, v.last_run_id, now, policy, outbox.active_bypass(conn, suite.name, now),
                              console_url=console_url, send_now=True)
            new += _trigger(conn, ctx, v, "new")
        return outbox.add(conn, new, now)


def _rule(suite: Any, rule_name: str) -> Any:
    for rule in getattr(suite, "rules", ()):
        if rule.name == rule_name:
            return rule
    return None


def _table(suite: Any) -> str:
    return str(getattr(suite, "qualified_table", suite.name))


def _suppression(conn: Connection, ctx: _RunContext, v: ViolationFacts, event: str) -> str | None:
    """Why this trigger must not reach anyone, or None."""
    if v.snoozed_until is not None and v.snoozed_until > ctx.now:
        return f"snoozed until {v.snoozed_until.isoformat()}"
    if ctx.bypass is not None:
        return f"bypass #{ctx.bypass.id} active on {ctx.bypass.suite} until {ctx.bypass.expires_at.isoformat()}"
    if event != "still_failing":
        return None
    if v.acknowledged:
        return f"acknowledged by {v.acknowledged_by or 'someone'}; no reminders"
    rule = _rule(ctx.suite, v.rule_name)
    cooldown = ctx.policy.cooldown(getattr(rule, "alert_cooldown_minutes", None))
    last = outbox.last_alarm_at(conn, v.rule_name, _trigger_kind(v))
    if last is not None and ctx.now - last < cooldown:
        return f"cooldown {_minutes(cooldown)} min: alerted at {last.isoformat()}, next reminder after {(last + cooldown).isoformat()}"
    return None


def _minutes(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 60:g}"


def _row(ctx: _RunContext, v: ViolationFacts, kind: str, target: Target, payload: dict[str, Any]) -> NewAlert:
    wait = 0 if ctx.send_now else ctx.policy.batch_window_seconds
    return outbox_row(v, kind, target, payload, send_at=ctx.now + timedelta(seconds=wait))


def _suppressed(v: ViolationFacts, kind: str, payload: dict[str, Any], reason: str) -> NewAlert:
    return outbox_row(v, kind, STORE, payload, send_at=None, suppressed=reason)


def _trigger_kind(v: ViolationFacts) -> str:
    """A rule that could not run raises an alert of its own kind, with its own cooldown."""
    return "could_not_check" if v.verdict == "ERROR" else "trigger"


def _trigger(conn: Connection, ctx: _RunContext, v: ViolationFacts, event: str) -> list[NewAlert]:
    payload = messages.payload(v, event, table=_table(ctx.suite), console_url=ctx.console_url, run_id=ctx.run_id)
    kind = _trigger_kind(v)
    reason = _suppression(conn, ctx, v, event)
    if reason:
        return [_suppressed(v, kind, payload, reason)]
    rule = _rule(ctx.suite, v.rule_name)
    owners = (getattr(rule, "owner", None), getattr(ctx.suite, "owner", None))
    team = ctx.policy.team_for(ctx.suite.name, owners)
    payload["team"] = team.name
    return [_row(ctx, v, kind, t, payload) for t in ctx.targets_for(team, ctx.policy.channels_for(v.severity))]


def _resolve(conn: Connection, ctx: _RunContext, v: ViolationFacts) -> list[NewAlert]:
    """Recovery goes wherever the alarm went (including escalations), so every incident closes."""
    payload = messages.payload(v, "recovered", table=_table(ctx.suite), console_url=ctx.console_url, run_id=ctx.run_id)
    targets = [Target(channel, destination) for channel, destination in outbox.alarm_targets(conn, v.id)]
    if not targets:
        return [_suppressed(v, "resolve", payload, "no alert was sent for this violation, so no recovery either")]
    return [_row(ctx, v, "resolve", target, payload) for target in targets]
