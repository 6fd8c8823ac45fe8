"""The anomaly detector: seasons, what it never trains on, the minimum changes, and not enough history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from engine.anomaly import AnomalySettings, band, detect

MONDAY = datetime(2026, 8, 3, tzinfo=UTC)


def hourly(days: int, value, *, start: datetime = MONDAY, excluded=None) -> pl.DataFrame:
    at = [start + timedelta(hours=i) for i in range(days * 24)]
    values = [float(value(a, i)) for i, a in enumerate(at)]
    flags = [bool(excluded(a, i)) if excluded else False for i, a in enumerate(at)]
    return pl.DataFrame({"at": at, "value": values, "excluded": flags},
                        schema={"at": pl.Datetime("us", "UTC"), "value": pl.Float64, "excluded": pl.Boolean})


def noisy(seed: int = 1):
    rng = np.random.default_rng(seed)
    return lambda: float(rng.normal(0, 0.02))


_NOISE = noisy()


def weekly_shop(a: datetime, i: int, noise=_NOISE) -> float:
    """Busy afternoons, quiet weekends."""
    daily = 1 + 0.3 * np.sin(2 * np.pi * (a.hour - 6) / 24)
    return 10_000 * daily * (0.6 if a.weekday() >= 5 else 1.0) * (1 + noise())


def test_a_weekly_season_is_found_and_named() -> None:
    history = hourly(56, weekly_shop)
    saturday_noon = MONDAY + timedelta(days=56 + 5, hours=12)
    usual = 10_000 * 1.3 * 0.6
    verdict = detect(history, saturday_noon, usual, AnomalySettings())
    assert (verdict.state, verdict.seasonality, verdict.season) == ("ok", "hour_of_week", "Saturdays 12:00")
    assert verdict.lower < usual < verdict.upper
    # A weekday's volume on a Saturday is an anomaly only because the season knows Saturdays.
    assert detect(history, saturday_noon, 10_000 * 1.3, AnomalySettings()).crossed == "upper"
    assert detect(history, saturday_noon, 10_000 * 1.3, AnomalySettings(seasonality="none")).state == "ok"


@pytest.mark.parametrize(("seasonality", "season"), [
    ("none", "all"), ("hour_of_day", "12:00"), ("day_of_week", "Saturdays"), ("hour_of_week", "Saturdays 12:00")])
def test_each_seasonality_compares_with_its_season(seasonality: str, season: str) -> None:
    verdict = detect(hourly(56, weekly_shop), MONDAY + timedelta(days=61, hours=12), 7_800.0,
                     AnomalySettings(seasonality=seasonality))
    assert verdict.season == season and verdict.seasonality == seasonality


def test_auto_keeps_a_flat_series_flat() -> None:
    rng = np.random.default_rng(3)
    verdict = detect(hourly(28, lambda a, i: 500 + rng.normal(0, 5)), MONDAY + timedelta(days=28), 500.0, AnomalySettings())
    assert verdict.seasonality == "none"


def test_a_trend_is_not_an_anomaly() -> None:
    rng = np.random.default_rng(4)
    growing = hourly(56, lambda a, i: 1_000 + 2.0 * i + rng.normal(0, 10))
    at = MONDAY + timedelta(days=56)
    assert detect(growing, at, 1_000 + 2.0 * 56 * 24, AnomalySettings()).state == "ok"
    assert detect(growing, at, 1_000.0, AnomalySettings()).crossed == "lower"


def test_an_incident_in_the_training_window_does_not_widen_the_band() -> None:
    rng = np.random.default_rng(5)
    outage = hourly(28, lambda a, i: 0.0 if 300 <= i < 312 else 1_000 + rng.normal(0, 10))
    verdict = detect(outage, MONDAY + timedelta(days=28), 900.0, AnomalySettings(seasonality="none"))
    assert verdict.crossed == "lower"  # a mean/std model, widened by the outage, would call 900 fine
    assert verdict.upper - verdict.lower < 100


def test_excluded_points_are_never_trained_on() -> None:
    rng = np.random.default_rng(6)
    # The last five days were a tripled load that on-call marked as an incident.
    def load(a: datetime, i: int) -> float:
        return (3_000 if i >= 23 * 24 else 1_000) + rng.normal(0, 10)
    marked = hourly(28, load, excluded=lambda a, i: i >= 23 * 24)
    unmarked = marked.with_columns(excluded=pl.lit(False))
    at = MONDAY + timedelta(days=28)
    assert detect(marked, at, 3_000.0, AnomalySettings(seasonality="none")).crossed == "upper"
    assert detect(unmarked, at, 3_000.0, AnomalySettings(seasonality="none")).state == "ok"  # a lasting new level, learnt
    assert detect(marked, at, 3_000.0, AnomalySettings(seasonality="none")).trained_points == 23 * 24


def test_the_detection_period_is_not_trained_on() -> None:
    rng = np.random.default_rng(7)
    # A slow load: the last 12 hours already creep down; they must not teach the band that this is normal.
    history = hourly(28, lambda a, i: (600 if i >= 28 * 24 - 12 else 1_000) + rng.normal(0, 10))
    at = MONDAY + timedelta(days=28)
    with_period = AnomalySettings(seasonality="none", detection_hours=12)
    verdict = detect(history, at, 600.0, with_period)
    assert verdict.crossed == "lower" and verdict.trained_points == 28 * 24 - 12
    # The point judged itself is never in its own training data, whatever the setting.
    assert detect(history, at - timedelta(hours=1), 600.0, AnomalySettings(seasonality="none")).trained_points == 28 * 24 - 1


def test_both_minimum_changes_must_be_exceeded() -> None:
    rng = np.random.default_rng(8)
    tiny = hourly(14, lambda a, i: 10 + rng.normal(0, 0.1))  # a tiny table: 10 rows, give or take
    at = MONDAY + timedelta(days=14)
    assert detect(tiny, at, 12.0, AnomalySettings(seasonality="none")).state == "anomaly"
    only_abs = AnomalySettings(seasonality="none", min_abs_change=5)
    assert detect(tiny, at, 12.0, only_abs).state == "ok"  # 2 rows more: not 5
    both = AnomalySettings(seasonality="none", min_abs_change=1, min_rel_change=0.5)
    assert detect(tiny, at, 12.0, both).state == "ok"  # 20% more: above 1 row, not above 50%
    assert detect(tiny, at, 16.0, both).crossed == "upper"  # 60% and 6 rows more
    assert detect(tiny, at, 16.0, both).upper == pytest.approx(15.0, rel=0.01)


@pytest.mark.parametrize(("direction", "high", "low"), [("both", "anomaly", "anomaly"), ("up", "anomaly", "ok"),
                                                         ("down", "ok", "anomaly")])
def test_direction(direction: str, high: str, low: str) -> None:
    rng = np.random.default_rng(9)
    history = hourly(14, lambda a, i: 100 + rng.normal(0, 1))
    at = MONDAY + timedelta(days=14)
    settings = AnomalySettings(seasonality="none", direction=direction)
    assert (detect(history, at, 150.0, settings).state, detect(history, at, 50.0, settings).state) == (high, low)


def test_not_enough_history_is_its_own_state() -> None:
    short = hourly(1, lambda a, i: 100.0).head(10)
    verdict = detect(short, MONDAY + timedelta(hours=10), 5_000.0, AnomalySettings())
    assert (verdict.state, verdict.trained_points, verdict.crossed) == ("not_enough_history", 10, None)
    assert verdict.sentence("rows") == "rows 5,000: not enough history to judge (10 training points)"
    # A season seen only once cannot be told from an incident either.
    week = hourly(7, weekly_shop)
    assert detect(week, MONDAY + timedelta(days=7), 1.0, AnomalySettings(seasonality="hour_of_week")).state == "not_enough_history"


def test_the_sentence_names_the_band_season_and_span() -> None:
    verdict = detect(hourly(56, weekly_shop), MONDAY + timedelta(days=56, hours=9), 1_204.0, AnomalySettings())
    text = verdict.sentence("rows")
    assert text.startswith("rows 1,204 vs expected ") and text.endswith("(Mondays 09:00, 8 weeks)")


def test_band_marks_anomalies_and_excluded_points_for_the_chart() -> None:
    rng = np.random.default_rng(10)
    history = hourly(16, lambda a, i: (0.0 if i == 15 * 24 else 100 + rng.normal(0, 1)),
                     excluded=lambda a, i: i == 15 * 24 + 1)
    chart = band(history, AnomalySettings(seasonality="none"))
    assert chart.columns == ["at", "value", "expected", "lower", "upper", "excluded", "anomaly"]
    assert chart["anomaly"][15 * 24] and chart["excluded"][15 * 24 + 1]
    assert chart["expected"][0] is None  # no history before the first point
    assert int(chart["anomaly"].sum()) <= 3


def test_band_of_the_newest_points_only_keeps_every_point() -> None:
    history = hourly(16, lambda a, i: 100.0 + (i % 3))
    chart = band(history, AnomalySettings(seasonality="none"), last=24)
    assert chart.height == history.height
    assert chart["expected"].head(chart.height - 24).null_count() == chart.height - 24
    assert chart["expected"].tail(24).null_count() == 0
