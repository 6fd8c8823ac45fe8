"""Cron evaluation: ticks in a time zone, per-rule schedules, missed ticks collapsing into one."""

from datetime import UTC, datetime, timedelta

import pytest

from engine.model import Layer, Rule, Severity, Suite
from ops import cron


def _rule(name: str, schedule: str | None = None, enabled: bool = True) -> Rule:
    return Rule(name=name, suite="silver.orders", check="not_null", params={"column": "id"},
                severity=Severity.HIGH, schedule=schedule, enabled=enabled)


def _suite(*rules: Rule, schedule: str | None = "0 * * * *", timezone: str | None = None) -> Suite:
    return Suite(name="silver.orders", source="wh", table="orders", schema=None, layer=Layer.SILVER,
                 data_classes=(), pii_columns=(), rules=rules, schedule=schedule, timezone=timezone)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(("expr", "tz", "now", "expected"), [
    ("*/15 * * * *", "UTC", "2026-03-01 10:07:00", "2026-03-01 10:00:00"),
    ("*/15 * * * *", "UTC", "2026-03-01 10:15:00", "2026-03-01 10:15:00"),  # a tick equal to now counts
    ("0 9 * * *", "Europe/Berlin", "2026-03-01 09:30:00", "2026-03-01 08:00:00"),  # 09:00 CET
    ("0 9 * * *", "Europe/Berlin", "2026-07-01 07:30:00", "2026-07-01 07:00:00"),  # 09:00 CEST
    ("* * * * * */5", "UTC", "2026-03-01 10:00:07", "2026-03-01 10:00:05"),  # seconds field
])
def test_latest_tick(expr: str, tz: str, now: str, expected: str) -> None:
    assert cron.latest_tick(expr, tz, at(now)) == at(expected)


def test_missed_ticks_collapse_into_one_run() -> None:
    suite = _suite(_rule("a"))
    work = cron.due_work(suite, at("2026-03-01 15:20:00"), "UTC", last_due=at("2026-03-01 09:00:00"))
    # one run for 15:00, recorded as standing for the five missed ticks 10:00-14:00 too
    assert work == cron.DueWork("silver.orders", at("2026-03-01 15:00:00"), None,
                                merged_ticks=5, first_due_at=at("2026-03-01 10:00:00"))
    assert work.waiting_since == at("2026-03-01 10:00:00")
    on_time = cron.due_work(suite, at("2026-03-01 16:00:30"), "UTC", last_due=work.due_at)
    assert on_time is not None and (on_time.merged_ticks, on_time.first_due_at) == (0, None)
    assert cron.due_work(suite, at("2026-03-01 15:59:00"), "UTC", last_due=work.due_at) is None


def test_counting_missed_ticks_stops_at_a_floor() -> None:
    suite = _suite(_rule("a", "* * * * * *"))
    work = cron.due_work(suite, at("2026-03-02 09:00:00"), "UTC", last_due=at("2026-03-01 09:00:00"))
    assert work is not None and work.merged_ticks == cron.MAX_COUNTED_TICKS


def test_rules_on_their_own_schedule_run_alone() -> None:
    suite = _suite(_rule("hourly"), _rule("minutely", "* * * * *"), _rule("off", enabled=False))
    now = at("2026-03-01 10:05:30")
    work = cron.due_work(suite, now, "UTC", last_due=at("2026-03-01 10:04:00"))
    assert work == cron.DueWork("silver.orders", at("2026-03-01 10:05:00"), ("minutely",))
    both = cron.due_work(suite, now, "UTC", last_due=at("2026-03-01 09:59:00"))
    assert both == cron.DueWork("silver.orders", at("2026-03-01 10:05:00"), None,
                                merged_ticks=5, first_due_at=at("2026-03-01 10:00:00"))  # 10:00-10:04


def test_a_suite_without_schedules_or_disabled_is_never_due() -> None:
    now = at("2026-03-01 10:05:30")
    assert cron.due_work(_suite(_rule("a"), schedule=None), now, "UTC", None) is None
    disabled = Suite(**{**_suite(_rule("a")).__dict__, "enabled": False})
    assert cron.due_work(disabled, now, "UTC", None) is None


def test_the_suites_time_zone_wins_over_the_default() -> None:
    suite = _suite(_rule("a"), schedule="0 9 * * *", timezone="America/New_York")
    assert cron.next_due(suite, at("2026-03-01 00:00:00"), "Europe/Berlin") == at("2026-03-01 14:00:00")


def test_overdue_lists_ticks_nobody_claimed_in_time() -> None:
    suite = _suite(_rule("a"))
    now = at("2026-03-01 10:30:00")
    grace = timedelta(minutes=10)
    assert cron.overdue([suite], now, "UTC", {}, grace) == [cron.DueWork("silver.orders", at("2026-03-01 10:00:00"), None)]
    assert cron.overdue([suite], now, "UTC", {"silver.orders": at("2026-03-01 10:00:00")}, grace) == []
    assert cron.overdue([suite], at("2026-03-01 10:05:00"), "UTC", {}, grace) == []


def test_a_frequent_schedule_is_overdue_from_its_first_missed_tick() -> None:
    suite = _suite(_rule("a"), schedule="* * * * *")
    last = at("2026-03-01 10:00:00")
    grace = timedelta(minutes=2)
    assert cron.overdue([suite], at("2026-03-01 10:02:30"), "UTC", {"silver.orders": last}, grace) == []
    (late,) = cron.overdue([suite], at("2026-03-01 10:03:30"), "UTC", {"silver.orders": last}, grace)
    assert late.due_at == at("2026-03-01 10:01:00")


@pytest.mark.parametrize(("expr", "tz", "message"), [
    ("every hour", "UTC", r"invalid cron schedule 'every hour'.*Hint: five fields"),
    ("0 * * * *", "Mars/Olympus", r"unknown time zone 'Mars/Olympus'.*Hint: use an IANA name"),
])
def test_bad_schedules_name_the_fix(expr: str, tz: str, message: str) -> None:
    with pytest.raises(cron.CronError, match=message):
        cron.latest_tick(expr, tz, at("2026-03-01 10:00:00"))
