"""When a suite is due: its rules' and its own cron schedules evaluated with croniter in a time zone.

A rule without a schedule follows its suite's; a suite's due tick is the newest tick at or before
now that is newer than the last tick claimed for it. Missed ticks collapse into that one tick,
so a scheduler that was down runs each suite once on start, not once per missed tick. An
optional sixth field holds seconds (`* * * * * */5` fires every five seconds; tests use it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from engine.model import Rule, Suite


class CronError(ValueError):
    """A cron expression or time zone that cannot be evaluated."""


@dataclass(frozen=True)
class DueWork:
    """One scheduled run of a suite: the tick it serves and the rules due at it (None = all)."""

    suite: str
    due_at: datetime
    rule_names: tuple[str, ...] | None
    merged_ticks: int = 0  # missed ticks before due_at that this one run stands for
    first_due_at: datetime | None = None  # the oldest of them (None when nothing was missed)

    @property
    def waiting_since(self) -> datetime:
        """The oldest moment this work has been due: what fair scheduling orders by."""
        return self.first_due_at or self.due_at


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CronError(
            f"unknown time zone {name!r}. Hint: use an IANA name such as UTC or Europe/Berlin "
            "(DQ_TIMEZONE or the suite's timezone)."
        ) from exc


def _iterator(expr: str, tz: str, start: datetime) -> croniter:
    if not croniter.is_valid(expr):
        raise CronError(
            f"invalid cron schedule {expr!r}. Hint: five fields 'minute hour day month weekday' "
            "(e.g. '*/15 * * * *'), with an optional sixth field for seconds."
        )
    return croniter(expr, start.astimezone(zone(tz)))


def latest_tick(expr: str, tz: str, now: datetime) -> datetime:
    """The newest tick of `expr` at or before `now`, as aware UTC."""
    # get_prev excludes a tick equal to its start, so start a microsecond later.
    tick = _iterator(expr, tz, now + timedelta(microseconds=1)).get_prev(datetime)
    return tick.astimezone(UTC)


def next_tick(expr: str, tz: str, now: datetime) -> datetime:
    """The first tick of `expr` after `now`, as aware UTC."""
    return _iterator(expr, tz, now).get_next(datetime).astimezone(UTC)


def suite_timezone(suite: Suite, default_tz: str) -> str:
    return suite.timezone or default_tz


def scheduled_rules(suite: Suite) -> dict[str, list[Rule]]:
    """The suite's enabled rules grouped by the cron schedule they follow."""
    groups: dict[str, list[Rule]] = {}
    for rule in suite.rules:
        schedule = rule.schedule or suite.schedule
        if rule.enabled and schedule:
            groups.setdefault(schedule, []).append(rule)
    return groups


def due_work(suite: Suite, now: datetime, default_tz: str, last_due: datetime | None) -> DueWork | None:
    """What of `suite` is due at `now` given the newest tick already claimed, or None."""
    if not suite.enabled:
        return None
    tz = suite_timezone(suite, default_tz)
    due: list[tuple[datetime, list[Rule]]] = []
    for expr, rules in scheduled_rules(suite).items():
        tick = latest_tick(expr, tz, now)
        if last_due is None or tick > last_due:
            due.append((tick, rules))
    if not due:
        return None
    names = tuple(rule.name for _, rules in due for rule in rules)
    every_enabled = {rule.name for rule in suite.rules if rule.enabled}
    due_at = max(tick for tick, _ in due)
    merged, first = (0, None) if last_due is None else missed_ticks(
        [expr for expr in scheduled_rules(suite)], tz, last_due, due_at)
    return DueWork(
        suite=suite.name,
        due_at=due_at,
        rule_names=None if set(names) == every_enabled else tuple(sorted(names)),
        merged_ticks=merged,
        first_due_at=first,
    )


MAX_COUNTED_TICKS = 1_000


def missed_ticks(exprs: list[str], tz: str, after: datetime, until: datetime) -> tuple[int, datetime | None]:
    """How many distinct ticks of `exprs` fall in (after, until), before `until` itself, and the first.

    Counting stops at MAX_COUNTED_TICKS (a per-second schedule down for a day), so the figure is a floor.
    """
    ticks: set[datetime] = set()
    for expr in exprs:
        iterator = _iterator(expr, tz, after)
        while len(ticks) < MAX_COUNTED_TICKS:
            tick = iterator.get_next(datetime).astimezone(UTC)
            if tick >= until:
                break
            ticks.add(tick)
    return len(ticks), min(ticks) if ticks else None


def next_due(suite: Suite, now: datetime, default_tz: str) -> datetime | None:
    """The next time any of the suite's schedules fires (shown by the console)."""
    tz = suite_timezone(suite, default_tz)
    ticks = [next_tick(expr, tz, now) for expr in scheduled_rules(suite)]
    return min(ticks) if ticks and suite.enabled else None


def first_missed_tick(suite: Suite, now: datetime, default_tz: str, last_due: datetime | None) -> datetime | None:
    """The oldest tick after `last_due` (or the latest one when nothing was claimed) at or before now."""
    if not suite.enabled:
        return None
    tz = suite_timezone(suite, default_tz)
    ticks = [latest_tick(expr, tz, now) if last_due is None else next_tick(expr, tz, last_due)
             for expr in scheduled_rules(suite)]
    missed = [tick for tick in ticks if tick <= now]
    return min(missed) if missed else None


def overdue(suites: Iterable[Suite], now: datetime, default_tz: str,
            last_due: dict[str, datetime], grace: timedelta) -> list[DueWork]:
    """Suites with a tick older than `grace` that nobody claimed: due_at is the first one missed."""
    late = []
    for suite in suites:
        try:
            work = due_work(suite, now, default_tz, last_due.get(suite.name))
            missed = first_missed_tick(suite, now, default_tz, last_due.get(suite.name))
        except CronError:
            continue  # reported by the scheduler's log and the manifest validation, not as lateness
        if work is not None and missed is not None and now - missed > grace:
            late.append(DueWork(suite.name, missed, work.rule_names))
    return late
