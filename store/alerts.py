"""The alert outbox on the `alerts` table: enqueue, claim, mark sent or failed, suppress; console queries.

Every alert is written here first (in the transaction that records the run) and sent later by
the delivery job. A row moves `pending -> sending -> sent`, or back to `pending` with a later
`next_attempt_at` after a failed attempt, or to `failed` when it must not be retried. A claim
(`sending`) expires after a timeout so an interrupted scheduler's rows are retried; `attempts`
is the claim token, so a late finisher can never overwrite a newer claim or re-mark a sent row.
A row's batch (`batch_key`: the rows sent in one message, and the webhook's Idempotency-Key) is
fixed at its first claim: a retry after a crash or a failed attempt sends exactly that batch again,
under the same key, and rows enqueued meanwhile form a batch of their own.
`suppressed` rows were never meant to be sent: they say why (cooldown, snooze, bypass) for the console.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from store import audit, bypass, db
from store.errors import NotFound
from store.schema import alerts, bypass_requests, violations

PENDING, SENDING, SENT, FAILED, SUPPRESSED = "pending", "sending", "sent", "failed", "suppressed"
STATUSES = (PENDING, SENDING, SENT, FAILED, SUPPRESSED)
# Every kind of outbox row, for filters in the console.
KINDS = ("trigger", "could_not_check", "resolve", "escalation", "bypass", "bypass_approval", "report")
# Kinds whose every row is a message of its own (a scheduled report is a document, not a line).
ALONE_KINDS = ("report",)
# The first alarm of an episode: `trigger` for a data failure, `could_not_check` for a rule that could not run.
TRIGGER_KINDS = ("trigger", "could_not_check")
# Kinds that reach a person: their first time is the start of the runbook's response time.
ALARM_KINDS = (*TRIGGER_KINDS, "escalation")


@dataclass(frozen=True)
class NewAlert:
    """One outbox row to write: one violation (or none), one channel, one destination."""

    kind: str  # trigger could_not_check resolve escalation
    channel: str  # slack email pagerduty webhook store
    destination: str  # never a secret: a setting name, a Slack channel, e-mail addresses
    payload: Mapping[str, Any]
    violation_id: int | None = None
    rule_name: str | None = None
    suite: str | None = None
    severity: str | None = None
    dedup_key: str | None = None
    status: str = PENDING
    suppressed_reason: str | None = None
    next_attempt_at: datetime | None = None


@dataclass(frozen=True)
class Alert:
    """One outbox row as stored."""

    id: int
    kind: str
    channel: str
    destination: str | None
    payload: Mapping[str, Any]
    status: str
    attempts: int
    created_at: datetime
    violation_id: int | None = None
    rule_name: str | None = None
    suite: str | None = None
    severity: str | None = None
    dedup_key: str | None = None
    suppressed_reason: str | None = None
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    sent_at: datetime | None = None
    batch_key: str | None = None


@dataclass(frozen=True)
class ViolationFacts:
    """What alerting needs to know about a violation."""

    id: int
    rule_name: str
    suite: str
    source: str
    check_type: str
    severity: str
    status: str
    detected_at: datetime
    last_seen_at: datetime
    occurrences: int
    acknowledged: bool
    verdict: str = "FAILED"  # ERROR: a could-not-check episode (the rule could not run)
    last_run_id: int | None = None
    observed_value: float | None = None
    threshold: str | None = None
    failing_rows: int | None = None
    message: str | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    snoozed_until: datetime | None = None
    resolved_at: datetime | None = None


@dataclass(frozen=True)
class ActiveBypass:
    id: int
    suite: str
    expires_at: datetime


@dataclass(frozen=True)
class ResponseTime:
    """The runbook's alert response time of one violation: acknowledged_at - first alert sent_at."""

    violation_id: int
    rule_name: str
    suite: str
    severity: str
    first_alert_sent_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    minutes: float | None = field(default=None)


def _alert(row: Any) -> Alert:
    return Alert(**{name: getattr(row, name) for name in Alert.__dataclass_fields__})


def _facts(row: Any) -> ViolationFacts:
    return ViolationFacts(**{name: getattr(row, name) for name in ViolationFacts.__dataclass_fields__})


# --- writing ------------------------------------------------------------------------------


def add(conn: Connection, new: Sequence[NewAlert], now: datetime) -> list[int]:
    """Write outbox rows in the caller's transaction (one bulk insert); `store` rows count as sent at once."""
    if not new:
        return []
    values = [
        dict(
            violation_id=item.violation_id,
            rule_name=item.rule_name,
            suite=item.suite,
            severity=item.severity,
            kind=item.kind,
            channel=item.channel,
            destination=item.destination,
            dedup_key=item.dedup_key,
            payload=dict(item.payload),
            status=item.status,
            suppressed_reason=item.suppressed_reason,
            attempts=0,
            next_attempt_at=item.next_attempt_at if item.status == PENDING else None,
            created_at=now,
            sent_at=now if item.channel == "store" and item.status == SENT else None,
        )
        for item in new
    ]
    query = alerts.insert().returning(alerts.c.id, sort_by_parameter_order=True)
    return [int(i) for i in conn.execute(query, values).scalars()]


def claim_due(engine: Engine, now: datetime, claim_seconds: float, limit: int = 500,
              batch_size: Callable[[str], int] | None = None) -> list[Alert]:
    """Claim every row of each channel+destination that has a due row; one short transaction.

    A due row is pending with next_attempt_at <= now, or a claim older than its timeout (an
    interrupted sender). The other pending rows of the same destination that were never claimed
    ride along, which is what batches alerts enqueued within the batching window into one
    message. Rows claimed before keep their batch (and bring the rest of it); the others are cut
    into new batches of at most `batch_size(channel)` rows (default: one batch per destination).
    """
    c = alerts.c
    is_due = sa.or_(
        sa.and_(c.status == PENDING, sa.or_(c.next_attempt_at.is_(None), c.next_attempt_at <= now)),
        sa.and_(c.status == SENDING, c.next_attempt_at <= now),
    )
    with db.write(engine) as conn:
        _one_claimer_at_a_time(conn)
        due = [_alert(row) for row in conn.execute(_locked(sa.select(alerts).where(is_due), limit))]
        groups = {(row.channel, row.destination) for row in due}
        riders: list[Alert] = []
        if groups:
            same_group = sa.or_(*(
                sa.and_(c.channel == channel, c.destination.is_(None) if dest is None else c.destination == dest)
                for channel, dest in groups
            ))
            query = sa.select(alerts).where(c.status == PENDING, c.next_attempt_at > now, c.batch_key.is_(None), same_group)
            riders = [_alert(row) for row in conn.execute(_locked(query, limit))]
        rows = _with_batches(conn, {row.id: row for row in due + riders}, now, batch_size)
        expires = now + timedelta(seconds=claim_seconds)
        for attempts, ids in _by_attempts(rows).items():
            conn.execute(
                alerts.update()
                .where(c.id.in_(ids), c.attempts == attempts)
                .values(status=SENDING, attempts=attempts + 1, next_attempt_at=expires)
            )
        return [_replace(row, status=SENDING, attempts=row.attempts + 1, next_attempt_at=expires) for row in rows]


def _with_batches(conn: Connection, found: dict[int, Alert], now: datetime,
                  batch_size: Callable[[str], int] | None) -> list[Alert]:
    """The claimed rows with their batch keys: earlier batches completed, new ones cut and recorded."""
    keys = {row.batch_key for row in found.values() if row.batch_key}
    if keys:
        claimable = sa.or_(alerts.c.status == PENDING, sa.and_(alerts.c.status == SENDING, alerts.c.next_attempt_at <= now))
        rest = sa.select(alerts).where(alerts.c.batch_key.in_(sorted(keys)), claimable, alerts.c.id.not_in(list(found)))
        found.update({row.id: row for row in map(_alert, conn.execute(_locked(rest, 500)))})
    fresh: dict[tuple[str, str | None, int], list[Alert]] = {}
    for row in sorted(found.values(), key=lambda r: r.id):
        if row.batch_key is None:
            alone = row.id if row.kind in ALONE_KINDS else 0
            fresh.setdefault((row.channel, row.destination, alone), []).append(row)
    for (channel, _, _), group in fresh.items():
        size = max(1, batch_size(channel)) if batch_size else len(group)
        for start in range(0, len(group), size):
            chunk = group[start : start + size]
            key = batch_key([row.id for row in chunk])
            conn.execute(alerts.update().where(alerts.c.id.in_([row.id for row in chunk])).values(batch_key=key))
            found.update({row.id: _replace(row, batch_key=key) for row in chunk})
    return sorted(found.values(), key=lambda r: r.id)


def batch_key(ids: Sequence[int]) -> str:
    """The key of a batch, from its rows at the first claim: unique, since a row is in one batch only."""
    ordered = sorted(ids)
    return f"dq-alerts-{ordered[0]}" if len(ordered) == 1 else f"dq-alerts-{ordered[0]}-{ordered[-1]}-{len(ordered)}"


def _by_attempts(rows: Iterable[Alert]) -> dict[int, list[int]]:
    """Row ids grouped by their attempts (the claim token), for one UPDATE per group."""
    groups: dict[int, list[int]] = {}
    for row in rows:
        groups.setdefault(row.attempts, []).append(row.id)
    return groups


CLAIM_LOCK = 0x44510A1E  # PostgreSQL advisory lock id of the outbox claim ("DQ alerts")


def _one_claimer_at_a_time(conn: Connection) -> None:
    """Serialise claims so two deliverers never split one destination's batch between them.

    SQLite already serialises them (BEGIN IMMEDIATE); on PostgreSQL row locks alone would let two
    claimers each lock part of a batch. The lock lasts for this short transaction only.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(CLAIM_LOCK)))


def _locked(query: sa.Select[Any], limit: int) -> sa.Select[Any]:
    # SKIP LOCKED: a second deliverer on PostgreSQL takes other rows instead of waiting for ours.
    return query.order_by(alerts.c.id).limit(limit).with_for_update(skip_locked=True)


def _replace(row: Alert, **changes: Any) -> Alert:
    values = {name: getattr(row, name) for name in Alert.__dataclass_fields__}
    values.update(changes)
    return Alert(**values)


def _still_ours(ids: Sequence[int], attempts: int) -> Any:
    """Claimed, and not re-claimed since (attempts is the token)."""
    return sa.and_(alerts.c.id.in_(list(ids)), alerts.c.status == SENDING, alerts.c.attempts == attempts)


def mark_sent(engine: Engine, rows: Iterable[Alert], now: datetime) -> int:
    """Mark claimed rows sent; returns how many were still ours."""
    done = 0
    with db.write(engine) as conn:
        for attempts, ids in _by_attempts(rows).items():
            query = alerts.update().where(_still_ours(ids, attempts))
            done += conn.execute(query.values(status=SENT, sent_at=now, last_error=None, next_attempt_at=None)).rowcount
    return done


def mark_failed(engine: Engine, outcomes: Iterable[tuple[Alert, datetime | None]], error: str) -> int:
    """Record a failed attempt: back to pending at the retry time, or failed for good when None."""
    done = 0
    with db.write(engine) as conn:
        for row, retry_at in outcomes:
            values: dict[str, Any] = {"last_error": error[:2000]}
            if retry_at is None:
                values.update(status=FAILED, next_attempt_at=None)
            else:
                values.update(status=PENDING, next_attempt_at=retry_at)
            changed = conn.execute(alerts.update().where(_still_ours([row.id], row.attempts)).values(**values)).rowcount
            if changed and retry_at is None:
                audit.record(conn, "alerting", "alert.failed", "alert", row.id, channel=row.channel,
                             destination=row.destination, attempts=row.attempts, error=error[:500])
            done += changed
    return done


def retry_failed(engine: Engine | None, now: datetime, alert_ids: Sequence[int] | None = None, *,
                 actor: str | None = None) -> int:
    """Put failed rows (all, or the given ones) back in the queue: the console's and the CLI's "retry"
    (through ops.alert_retry, which checks the role; `actor` gets the audit row).

    They are batched afresh: the same rows as before get the same key again, a part of them a new one.
    """
    query = alerts.update().where(alerts.c.status == FAILED)
    if alert_ids is not None:
        query = query.where(alerts.c.id.in_(list(alert_ids)))
    with db.write(engine) as conn:
        count = conn.execute(query.values(status=PENDING, next_attempt_at=now, attempts=0, batch_key=None)).rowcount
        if actor is not None:
            audit.record(conn, actor, "alert.retried", "alert", None, count=count,
                         alert_ids=None if alert_ids is None else list(alert_ids))
        return int(count)


def unrouted(conn: Connection, limit: int = 200) -> list[Alert]:
    """Pending `store` rows without a destination: notices other features queued (a bypass rollback)
    for alerting to route to the team's channels."""
    query = (
        sa.select(alerts)
        .where(alerts.c.status == PENDING, alerts.c.channel == "store", alerts.c.destination.is_(None))
        .order_by(alerts.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [_alert(row) for row in conn.execute(query)]


def mark_routed(conn: Connection, alert_id: int, now: datetime) -> None:
    """The notice itself is the console's copy: recorded as sent to the console."""
    conn.execute(
        alerts.update()
        .where(alerts.c.id == alert_id, alerts.c.status == PENDING)
        .values(status=SENT, sent_at=now, destination="console", next_attempt_at=None)
    )


def add_once(conn: Connection, batches: Mapping[str, Sequence[NewAlert]], now: datetime) -> dict[str, list[int]]:
    """Write each batch of rows unless rows with its dedup key exist already (notices sent once);
    returns the new row ids of each batch written.

    Two schedulers running the same job at once write a batch once: SQLite serialises writers
    (BEGIN IMMEDIATE), PostgreSQL takes a transaction-scoped advisory lock first.
    """
    if not batches:
        return {}
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(NOTICE_LOCK)))
    seen = set(conn.execute(sa.select(alerts.c.dedup_key).where(alerts.c.dedup_key.in_(list(batches)))).scalars())
    return {key: add(conn, rows, now) for key, rows in batches.items() if key not in seen}


NOTICE_LOCK = 0x44510A1F  # PostgreSQL advisory lock id of add_once


# --- what alerting reads --------------------------------------------------------------------


def violation_facts(conn: Connection, ids: Iterable[int]) -> list[ViolationFacts]:
    wanted = sorted(set(ids))
    if not wanted:
        return []
    rows = conn.execute(sa.select(violations).where(violations.c.id.in_(wanted)).order_by(violations.c.id))
    return [_facts(row) for row in rows]


def unalerted(conn: Connection, since: datetime, limit: int = 500) -> list[ViolationFacts]:
    """Open, unacknowledged episodes detected since `since` without a single outbox row: recorded by
    a writer that enqueued nothing (the scheduler closing a timed-out or crashed run)."""
    has_alert = sa.exists().where(alerts.c.violation_id == violations.c.id)
    query = (
        sa.select(violations)
        .where(violations.c.status == "open", violations.c.acknowledged.is_(False),
               violations.c.detected_at >= since, ~has_alert)
        .order_by(violations.c.id)
        .limit(limit)
    )
    return [_facts(row) for row in conn.execute(query)]


def one_enqueuer_at_a_time(conn: Connection) -> None:
    """Two deliverers catching up on the same episodes write their alerts once (PostgreSQL; SQLite serialises)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(NOTICE_LOCK)))


def unacknowledged(conn: Connection, severities: Sequence[str]) -> list[ViolationFacts]:
    """Open, unacknowledged violations of the given severities (escalation candidates)."""
    query = (
        sa.select(violations)
        .where(
            violations.c.status == "open",
            violations.c.acknowledged.is_(False),
            violations.c.resolved_at.is_(None),
            violations.c.severity.in_(list(severities)),
        )
        .order_by(violations.c.id)
    )
    return [_facts(row) for row in conn.execute(query)]


def active_bypass(conn: Connection, suite: str, now: datetime) -> ActiveBypass | None:
    """The bypass the gate honours for `suite` now (signature, matrix and expiry checked), or None.

    A bypass row that was edited, expired or never properly approved silences nothing.
    """
    exists = conn.execute(
        sa.select(bypass_requests.c.id).where(bypass_requests.c.suite == suite, bypass_requests.c.status == "active")
    ).first()
    if exists is None:  # the common case: no query of the suite, matrix or signature needed
        return None
    try:
        request = bypass.honoured_in(conn, suite, now).request
    except NotFound:  # a suite no longer in the store has nothing to honour
        return None
    if request is None or request.expires_at is None:
        return None
    return ActiveBypass(request.id, request.suite, request.expires_at)


def last_alarm_at(conn: Connection, rule_name: str, kind: str = "trigger") -> datetime | None:
    """When the rule last raised an alarm of `kind` that was not suppressed (the cooldown's start)."""
    query = sa.select(sa.func.max(alerts.c.created_at)).where(
        alerts.c.rule_name == rule_name, alerts.c.kind == kind, alerts.c.status != SUPPRESSED
    )
    return conn.execute(query).scalar()  # max() keeps UTCDateTime: aware UTC on every backend


def alarm_targets(conn: Connection, violation_id: int) -> list[tuple[str, str]]:
    """Every channel+destination a trigger or escalation of this violation went to (not suppressed)."""
    query = (
        sa.select(alerts.c.channel, alerts.c.destination)
        .where(
            alerts.c.violation_id == violation_id,
            alerts.c.kind.in_(ALARM_KINDS),
            alerts.c.status != SUPPRESSED,
        )
        .group_by(alerts.c.channel, alerts.c.destination)
        .order_by(alerts.c.channel, alerts.c.destination)
    )
    return [(row.channel, row.destination) for row in conn.execute(query)]


def first_alarms(conn: Connection, violation_ids: Sequence[int]) -> dict[int, datetime]:
    """For each violation, when its first unsuppressed trigger was written (escalation's clock)."""
    if not violation_ids:
        return {}
    query = (
        sa.select(alerts.c.violation_id, alerts.c.created_at)
        .where(
            alerts.c.violation_id.in_(list(violation_ids)),
            alerts.c.kind.in_(TRIGGER_KINDS),
            alerts.c.status != SUPPRESSED,
        )
        .order_by(alerts.c.created_at)
    )
    first: dict[int, datetime] = {}
    for row in conn.execute(query):
        first.setdefault(row.violation_id, row.created_at)
    return first


def escalation_levels(conn: Connection, violation_ids: Sequence[int]) -> dict[int, set[int]]:
    """The escalation levels already written for each violation."""
    if not violation_ids:
        return {}
    query = sa.select(alerts.c.violation_id, alerts.c.payload).where(
        alerts.c.violation_id.in_(list(violation_ids)), alerts.c.kind == "escalation"
    )
    levels: dict[int, set[int]] = {}
    for row in conn.execute(query):
        levels.setdefault(row.violation_id, set()).add(int(row.payload.get("level", 1)))
    return levels


# --- console queries ----------------------------------------------------------------------


def recent(
    conn: Connection, since: datetime | None = None, limit: int = 200, statuses: Sequence[str] | None = None
) -> list[Alert]:
    """Newest alerts first, optionally since a time and of some statuses."""
    query = sa.select(alerts).order_by(alerts.c.created_at.desc(), alerts.c.id.desc()).limit(limit)
    if since is not None:
        query = query.where(alerts.c.created_at >= since)
    if statuses:
        query = query.where(alerts.c.status.in_(list(statuses)))
    return [_alert(row) for row in conn.execute(query)]


def failed_deliveries(conn: Connection, limit: int = 200) -> list[Alert]:
    """Rows that failed for good, and rows waiting for a retry after a failed attempt."""
    query = (
        sa.select(alerts)
        .where(
            sa.or_(
                alerts.c.status == FAILED,
                sa.and_(alerts.c.status.in_((PENDING, SENDING)), alerts.c.last_error.is_not(None)),
            )
        )
        .order_by(alerts.c.created_at.desc(), alerts.c.id.desc())
        .limit(limit)
    )
    return [_alert(row) for row in conn.execute(query)]


def for_violation(conn: Connection, violation_id: int) -> list[Alert]:
    """The alert history of one violation, oldest first (the violation page's timeline)."""
    query = sa.select(alerts).where(alerts.c.violation_id == violation_id).order_by(alerts.c.id)
    return [_alert(row) for row in conn.execute(query)]


def status_counts(conn: Connection, since: datetime) -> dict[str, int]:
    query = (
        sa.select(alerts.c.status, sa.func.count())
        .where(alerts.c.created_at >= since)
        .group_by(alerts.c.status)
    )
    return {status: int(count) for status, count in conn.execute(query)}


def response_times(conn: Connection, since: datetime) -> list[ResponseTime]:
    """Violations detected since `since` that were alerted: first alert sent_at and acknowledgement.

    `minutes` is None while the violation is still unacknowledged.
    """
    first_sent = sa.func.min(alerts.c.sent_at).label("first_sent")
    query = (
        sa.select(
            violations.c.id,
            violations.c.rule_name,
            violations.c.suite,
            violations.c.severity,
            violations.c.acknowledged_at,
            violations.c.acknowledged_by,
            first_sent,
        )
        .join(alerts, alerts.c.violation_id == violations.c.id)
        .where(
            violations.c.detected_at >= since,
            alerts.c.kind.in_(TRIGGER_KINDS),
            alerts.c.status == SENT,
        )
        .group_by(
            violations.c.id,
            violations.c.rule_name,
            violations.c.suite,
            violations.c.severity,
            violations.c.acknowledged_at,
            violations.c.acknowledged_by,
        )
        .order_by(violations.c.id)
    )
    result = []
    for row in conn.execute(query):
        sent = row.first_sent  # min() keeps UTCDateTime: aware UTC on every backend
        acked = row.acknowledged_at
        minutes = (acked - sent).total_seconds() / 60 if acked is not None else None
        result.append(
            ResponseTime(row.id, row.rule_name, row.suite, row.severity, sent, acked, row.acknowledged_by, minutes)
        )
    return result


# --- for the console's Alerts page (engine keyword, picklable rows for caching) --------------

_SHOWN = ("id", "created_at", "kind", "severity", "suite", "rule_name", "violation_id", "channel",
          "destination", "status", "suppressed_reason", "attempts", "next_attempt_at", "last_error", "sent_at")


def _table_rows(rows: Iterable[Alert]) -> list[dict[str, Any]]:
    return [{name: getattr(row, name) for name in _SHOWN} for row in rows]


def alerts_table(
    since: datetime | None = None, statuses: tuple[str, ...] = (), kinds: tuple[str, ...] = (),
    limit: int = 500, *, engine: Engine | None = None,
) -> list[dict[str, Any]]:
    """Newest alerts first, as rows for a table; filtered by status and kind."""
    with db.read(engine) as conn:
        rows = recent(conn, since=since, limit=limit if not kinds else limit * 4, statuses=statuses or None)
    return _table_rows([r for r in rows if not kinds or r.kind in kinds][:limit])


def failed_table(*, engine: Engine | None = None) -> list[dict[str, Any]]:
    with db.read(engine) as conn:
        return _table_rows(failed_deliveries(conn))


def summary(since: datetime, *, engine: Engine | None = None) -> dict[str, Any]:
    """Counts by status since `since` and the mean alert response time in minutes (None without data)."""
    with db.read(engine) as conn:
        counts = status_counts(conn, since)
        answered = [t.minutes for t in response_times(conn, since) if t.minutes is not None]
    mean = sum(answered) / len(answered) if answered else None
    return {"counts": counts, "mean_response_minutes": mean, "acknowledged": len(answered)}
