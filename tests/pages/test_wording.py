"""Observed value and threshold in the same words and unit (console/wording.py), from the demo's own values."""

from __future__ import annotations

import pytest

from console import wording


@pytest.mark.parametrize(("check", "value", "failing", "threshold", "expected"), [
    ("unique", 0.0003, 312, "more than 0 rows", "312 failing rows (0.03%); allowed: 0 rows"),
    ("null_rate", 0.008, 40, "more than 0.5000% of rows", "null rate 0.8% (40 rows); allowed: at most 0.5%"),
    ("regex", 0.008, 32, "more than 0.5000% of rows", "32 failing rows (0.8%); allowed: at most 0.5%"),
    ("row_condition", 6.86948e-05, 1, "more than 0 rows", "1 failing row (0.0069%); allowed: 0 rows"),
    ("accepted_values", 0.0015, 30, "more than 10 rows", "30 failing rows (0.15%); allowed: at most 10 rows"),
    ("freshness", 497471.4, None, "older than 2d", "newest row 5 d 18 h old; allowed: at most 2 d old"),
    ("row_count", 67.0, None, "below 500", "67 rows; allowed: at least 500 rows"),
    ("row_count", 20008.0, None, "below 50000 or above 5000000", "20,008 rows; allowed: 50,000 to 5,000,000 rows"),
    ("schema", 1.0, None, "any drift", "1 column change(s); allowed: no drift"),
    ("anomaly", 1204.0, None, "outside 9,800-11,400 (Mondays)", "observed 1,204; allowed: within 9,800-11,400 (Mondays)"),
    ("mean", None, None, "above 10", "no value; allowed: at most 10"),
    ("mean", 12.5, None, "below 1 or above 10", "observed 12.5; allowed: 1 to 10"),
    ("aggregate", 1600123.75, None, "below 1000000", "observed 1,600,124; allowed: at least 1,000,000"),
])
def test_verdict_line(check: str, value: float | None, failing: int | None, threshold: str, expected: str) -> None:
    assert wording.verdict_line(check, value, failing, threshold) == expected


@pytest.mark.parametrize(("seconds", "expected"), [(215.888, "3 min 36 s"), (0.215, "0.2 s"), (42.04, "42.0 s"),
                                                   (None, "—")])
def test_durations_are_rounded(seconds: float | None, expected: str) -> None:
    assert wording.duration(seconds) == expected


def test_every_severity_has_a_colour_from_red_to_grey() -> None:
    assert list(wording.SEVERITY_COLORS) == ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO"]
    assert wording.SEVERITY_COLORS["CRITICAL"] == "#cf222e" and wording.SEVERITY_COLORS["INFO"] == "#8c959f"


@pytest.mark.parametrize(("check", "threshold", "expected"), [
    ("unique", "more than 0 rows", wording.Metric("failing rows", "failing_rows", 1.0, None, 0.0)),
    ("null_rate", "more than 0.5000% of rows", wording.Metric("null rate, %", "observed_value", 100.0, None, 0.5)),
    ("freshness", "older than 2d 6h", wording.Metric("age of the newest row, hours", "observed_value", 1 / 3600, None, 54.0)),
    ("row_count", "below 50000 or above 5000000", wording.Metric("rows", "observed_value", 1.0, 50000.0, 5000000.0)),
    ("schema", "any drift", wording.Metric("observed value", "observed_value", 1.0)),
])
def test_the_chart_plots_the_unit_of_the_threshold(check: str, threshold: str, expected: wording.Metric) -> None:
    assert wording.metric(check, threshold) == expected
