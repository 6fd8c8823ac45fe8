from datetime import timedelta

import pytest
import sqlalchemy as sa

from store import db, kpis, schema, uptime
from store.kpis import Window
from tests import seed
from tests.seed import NOW, ago

DAY = Window.last(24, NOW)


def _by_key(window: Window = DAY) -> dict[str, kpis.Kpi]:
    return {k.key: k for k in kpis.health_kpis(window)}


def test_empty_store_has_no_data_except_schema_changes(sqlite_store: str) -> None:
    found = _by_key()
    assert [k.shown() for k in found.values()] == ["no data"] * 8 + ["0"]
    assert found["schema_changes"].ok is True


def test_rates_count_verdicts_in_the_window(store_url: str) -> None:
    for status in ["PASSED"] * 18 + ["FAILED", "ERROR"]:
        seed.checked(status=status, at=ago(hours=2), severity="HIGH")
    seed.checked(status="PASSED", at=ago(hours=1), severity="CRITICAL")
    seed.checked(status="FAILED", at=ago(hours=1), severity="CRITICAL")
    seed.checked(status="ERROR", at=ago(days=3), severity="HIGH")  # outside the window
    seed.checked(status="SKIPPED", at=ago(hours=1), severity="HIGH")  # did not run
    found = _by_key()
    assert found["success_rate"].value == pytest.approx(100 * 21 / 22)
    assert found["success_rate"].ok is True
    assert found["high_pass"].value == pytest.approx(90.0) and found["high_pass"].ok is False
    assert found["critical_pass"].value == pytest.approx(50.0) and found["critical_pass"].ok is False
    assert found["avg_duration"].value == pytest.approx(2.0) and found["avg_duration"].ok is True


def test_alert_response_time_from_first_sent_alert(store_url: str) -> None:
    late = seed.violation(status="acknowledged", acknowledged_at=ago(hours=1))
    seed.alert(late, sent_at=ago(hours=1, minutes=20))
    seed.alert(late, sent_at=ago(hours=1, minutes=5))  # a later reminder does not count
    quick = seed.violation(status="acknowledged", acknowledged_at=ago(hours=2))
    seed.alert(quick, sent_at=ago(hours=2, minutes=10))
    seed.violation(status="acknowledged", acknowledged_at=ago(hours=3))  # no alert sent: ignored
    found = _by_key()["alert_response"]
    assert found.value == pytest.approx(15.0) and found.ok is False
    assert kpis.response_times(DAY)["response_minutes"].to_list() == pytest.approx([10.0, 20.0])


def test_a_could_not_check_alert_starts_the_response_time_too(store_url: str) -> None:
    broken = seed.violation(status="acknowledged", acknowledged_at=ago(hours=1))
    seed.alert(broken, sent_at=ago(hours=1, minutes=12), kind="could_not_check")  # the rule could not run
    seed.alert(broken, sent_at=ago(hours=1, minutes=30), kind="resolve")  # not an alarm: ignored
    assert _by_key()["alert_response"].value == pytest.approx(12.0)


def test_scheduler_availability_is_the_covered_share_of_the_window(store_url: str) -> None:
    seed.heartbeat("a", started_at=ago(hours=30), beat_at=ago(hours=12))
    seed.heartbeat("b", started_at=ago(hours=13), beat_at=ago(hours=6))  # overlaps a
    seed.heartbeat("c", started_at=ago(hours=3), beat_at=NOW)  # 3 h gap before it
    found = _by_key()["availability"]
    # b's newest beat vouches for one more heartbeat interval (5 s) after it.
    assert found.value == pytest.approx(100 * (21 * 3600 + 5) / (24 * 3600))
    assert found.ok is False


def test_freshness_uses_each_rules_newest_age(store_url: str) -> None:
    seed.checked("orders_fresh", at=ago(hours=5), check_type="freshness", observed_value=5 * 3600.0)
    seed.checked("orders_fresh", at=ago(hours=1), check_type="freshness", observed_value=1800.0)
    seed.checked("users_fresh", at=ago(hours=1), check_type="freshness", observed_value=3600.0)
    found = _by_key()["freshness"]
    assert found.value == pytest.approx(1.0) and found.ok is True


def test_schema_changes_count_distinct_drifts_this_month(store_url: str) -> None:
    for days, text in ((1, "+col a"), (2, "+col a"), (3, "-col b"), (30, "+col c")):
        seed.checked("orders_schema", status="FAILED", at=ago(days=days), check_type="schema", observed_text=text)
    window = Window.last(24 * 7, NOW)
    assert _by_key(window)["schema_changes"].value == 2


def test_panels(store_url: str) -> None:
    seed.checked(status="PASSED", at=ago(hours=2, minutes=10))
    seed.checked(status="ERROR", at=ago(hours=2, minutes=20))
    seed.checked(status="FAILED", at=ago(hours=1))
    seed.violation(severity="HIGH", detected_at=ago(hours=1))
    seed.violation(severity="HIGH", detected_at=ago(hours=1))
    seed.violation(severity="LOW", detected_at=ago(hours=1))
    over_time = kpis.success_over_time(DAY)
    assert over_time.select("slot", "results", "success_rate").rows() == [
        (NOW - timedelta(hours=3), 2, 50.0), (NOW - timedelta(hours=1), 1, 100.0)]
    assert kpis.violations_by_severity(DAY).rows() == [("HIGH", 2), ("LOW", 1)]
    top = kpis.top_failing_rules(DAY)
    assert top.select("rule_name", "failed", "results").rows() == [("orders_id_not_null", 1, 3)]
    assert kpis.check_durations(DAY)["seconds"].to_list() == [2.0, 2.0, 2.0]


def test_daily_summary_matches_the_kpis(store_url: str) -> None:
    seed.rule()
    seed.rule(name="old_rule", enabled=False)
    seed.checked(status="FAILED", at=ago(hours=1))
    seed.violation(detected_at=ago(hours=1))
    seed.violation(detected_at=ago(days=2))
    summary = kpis.daily_summary(DAY)
    assert summary.runs_by_status == {"FAILED": 1}
    assert (summary.rules_total, summary.rules_enabled) == (2, 1)
    assert (summary.unacknowledged_in_window, summary.open_violations) == (1, 2)
    assert summary.kpis == kpis.health_kpis(DAY)


def test_a_new_install_counts_availability_from_its_first_scheduler(store_url: str) -> None:
    seed.heartbeat("a", started_at=ago(hours=4), beat_at=ago(hours=1), status="stopped")  # up 3 of its 4 hours
    found = _by_key()["availability"]
    assert found.value == pytest.approx(100 * 3 / 4)


def test_a_fresh_install_two_minutes_old_is_green(store_url: str) -> None:
    seed.heartbeat("a", started_at=ago(minutes=2), beat_at=ago(seconds=3))  # beats every 5 s
    found = _by_key()["availability"]
    assert (found.value, found.ok) == (100.0, True)


def test_a_restart_keeps_the_earlier_lifetime_and_a_stop_is_down_time(store_url: str) -> None:
    # The case: up 14 min, stopped for 2 min, restarted under the same id 2 min ago.
    with db.write() as conn:
        uptime.opened(conn, "host:1", ago(minutes=18))
        for second in range(18 * 60 - 5, 4 * 60 - 1, -5):  # a beat every 5 s (DQ_HEARTBEAT_SECONDS)
            uptime.extended(conn, "host:1", ago(seconds=second))
        uptime.opened(conn, "host:1", ago(minutes=2))  # the restart
        for second in range(115, 0, -5):
            uptime.extended(conn, "host:1", ago(seconds=second))
    found = _by_key()["availability"]
    assert found.value == pytest.approx(100 * (14 * 60 + 5 + 2 * 60) / (18 * 60))  # about 88%, not 74%


def test_a_window_ends_on_the_next_minute_and_availability_at_now(store_url: str, monkeypatch) -> None:
    moment = NOW + timedelta(seconds=20)
    monkeypatch.setenv("DQ_NOW", moment.isoformat())
    window = Window.last(24)
    assert window.until == NOW + timedelta(minutes=1)
    seed.checked(status="PASSED", at=moment - timedelta(seconds=5))  # a result of a moment ago counts
    seed.heartbeat("a", started_at=ago(minutes=2), beat_at=moment - timedelta(seconds=2))
    found = _by_key(window)
    assert found["success_rate"].value == 100.0
    assert found["availability"].value == 100.0  # the 40 s still to come are not down time


def test_beats_further_apart_than_three_intervals_are_two_stretches(store_url: str) -> None:
    with db.write() as conn:
        uptime.opened(conn, "a", ago(minutes=10))
        uptime.extended(conn, "a", ago(minutes=9, seconds=55))
        uptime.extended(conn, "a", ago(minutes=5))  # the database was unreachable for almost 5 minutes
    with db.read() as conn:
        rows = conn.execute(sa.select(schema.scheduler_uptime.c.up_from, schema.scheduler_uptime.c.up_to)
                            .order_by(schema.scheduler_uptime.c.id)).all()
    assert [tuple(r) for r in rows] == [(ago(minutes=10), ago(minutes=9, seconds=55)), (ago(minutes=5), ago(minutes=5))]


def test_freshness_names_the_stalest_table(store_url: str) -> None:
    seed.checked("revenue_fresh", at=ago(hours=1), check_type="freshness", observed_value=5 * 3600.0,
                 suite="gold.daily_revenue")
    seed.checked("orders_fresh", at=ago(hours=1), check_type="freshness", observed_value=600.0)
    found = _by_key()["freshness"]
    assert (found.shown(), found.detail) == ("5.0 h", "stalest: gold.daily_revenue (revenue_fresh)")


def test_success_rate_and_pass_rate_say_different_things(store_url: str) -> None:
    for status in ["FAILED"] * 27 + ["PASSED"] * 5:
        seed.checked(status=status, at=ago(hours=1))
    found = _by_key()
    assert (found["success_rate"].shown(), found["success_rate"].state()) == ("100.00%", "on target")
    assert (found["pass_rate"].shown(), found["pass_rate"].state()) == ("15.62%", "no target")


def test_the_scheduler_writes_its_up_time_as_it_starts_beats_and_restarts(store_url: str) -> None:
    from store import scheduling

    def start() -> None:
        with db.write() as conn:
            scheduling.register_scheduler(conn, "one", host="h", pid=1, timezone="UTC", stale_seconds=30,
                                          single_active=False, alive=lambda host, pid: False)

    start()
    with db.write() as conn:
        scheduling.beat(conn, "one")
        scheduling.beat(conn, "one", status="stopped")
    start()  # a restart under the same id keeps the first stretch
    with db.read() as conn:
        rows = conn.execute(sa.select(schema.scheduler_uptime.c.up_from, schema.scheduler_uptime.c.up_to)
                            .order_by(schema.scheduler_uptime.c.id)).all()
        beat_at = conn.execute(sa.select(schema.scheduler_heartbeats.c.started_at)).scalar_one()
    assert len(rows) == 2
    assert rows[0].up_to >= rows[0].up_from and rows[1].up_from == beat_at
