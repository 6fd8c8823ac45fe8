"""Numbers as on-call reads them: observed value and threshold in the same words and unit, durations,
percentages, and the severity colours every chart uses (CRITICAL red to INFO grey)."""

from __future__ import annotations

import re
from dataclasses import dataclass

SEVERITY_COLORS = {"CRITICAL": "#cf222e", "HIGH": "#e16f24", "MEDIUM": "#d4a72c", "LOW": "#1f6feb",
                   "INFO": "#8c959f"}
VERDICT_COLORS = {"PASSED": "#2da44e", "WARNED": "#d4a72c", "FAILED": "#cf222e", "ERROR": "#8250df",
                  "SKIPPED": "#8c959f", "NO_HISTORY": "#57606a"}

_ROWS = re.compile(r"^more than (\d+) rows?$")
_FRACTION = re.compile(r"^more than ([\d.]+)% of rows$")
_OLDER = re.compile(r"^older than (.+)$")
_BAND = re.compile(r"^outside (.+)$")
_BETWEEN = re.compile(r"^below (-?[\d.e+]+) or above (-?[\d.e+]+)$")
_BELOW = re.compile(r"^below (-?[\d.e+]+)$")
_ABOVE = re.compile(r"^above (-?[\d.e+]+)$")


def percent(fraction: float) -> str:
    """0.0003 -> '0.03%', 0.008 -> '0.8%', 0 -> '0%': two significant decimals, no trailing zeros."""
    value = 100 * fraction
    text = f"{value:.2f}" if value >= 0.01 or value == 0 else f"{value:.2g}"
    return text.rstrip("0").rstrip(".") + "%" if "." in text else text + "%"


def age(seconds: float) -> str:
    """497471 -> '5 d 18 h', 7260 -> '2 h 1 min', 42 -> '42 s'."""
    whole = int(round(abs(seconds)))
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"


def duration(seconds: float | None) -> str:
    """Run durations: '0.2 s', '3.4 s', '3 min 36 s'."""
    if seconds is None:
        return "—"
    return f"{seconds:.1f} s" if seconds < 60 else age(seconds)


def _number(value: float) -> str:
    """1600000.5 -> '1,600,000', 12.345 -> '12.35', 0.00012 -> '0.00012': never an exponent."""
    if float(value).is_integer() or abs(value) >= 1000:
        return f"{round(value):,}"
    return f"{value:.4g}" if abs(value) >= 1e-4 else f"{value:.6f}".rstrip("0")


def allowed(threshold: str | None, check_type: str = "") -> str:
    """The stored fail level ('more than 0 rows', 'more than 0.5000% of rows', 'older than 2d') as a limit."""
    if not threshold:
        return "—"
    if m := _ROWS.match(threshold):
        n = int(m.group(1))
        return f"{n} rows" if n == 0 else f"at most {n:,} row{'s' if n != 1 else ''}"
    if m := _FRACTION.match(threshold):
        return f"at most {percent(float(m.group(1)) / 100)}"
    if m := _OLDER.match(threshold):
        return f"at most {m.group(1).replace('d', ' d').replace('h', ' h').replace('m', ' min').replace('s', ' s')} old"
    if threshold == "any drift":
        return "no drift"
    if m := _BAND.match(threshold):  # an anomaly rule's expected band: "outside 9,800-11,400 (Mondays)"
        return f"within {m.group(1)}"
    unit = " rows" if check_type == "row_count" else ""
    if m := _BETWEEN.match(threshold):
        return f"{_number(float(m.group(1)))} to {_number(float(m.group(2)))}{unit}"
    if m := _BELOW.match(threshold):
        return f"at least {_number(float(m.group(1)))}{unit}"
    if m := _ABOVE.match(threshold):
        return f"at most {_number(float(m.group(1)))}{unit}"
    return f"not {threshold}"


def observed(check_type: str, value: float | None, failing_rows: int | None) -> str:
    """What the rule saw, in the unit of its threshold."""
    if value is None and failing_rows is None:
        return "no value"
    if failing_rows is not None:  # a row-level rule: value is the failing fraction
        share = f" ({percent(value)})" if value is not None else ""
        if check_type == "null_rate":
            return f"null rate {percent(value or 0)} ({failing_rows:,} rows)"
        return f"{failing_rows:,} failing row{'s' if failing_rows != 1 else ''}{share}"
    assert value is not None
    if check_type == "freshness":
        return f"newest row {age(value)} old"
    if check_type == "schema":
        return f"{_number(value)} column change(s)"
    if check_type == "row_count":
        return f"{_number(value)} rows"
    return f"observed {_number(value)}"


def verdict_line(check_type: str, value: float | None, failing_rows: int | None, threshold: str | None) -> str:
    """'312 failing rows (0.03%); allowed: 0 rows' or 'null rate 0.8% (40 rows); allowed: at most 0.5%'."""
    return f"{observed(check_type, value, failing_rows)}; allowed: {allowed(threshold, check_type)}"


_AGE_PART = re.compile(r"(\d+)([dhms])")
_AGE_SECONDS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}


@dataclass(frozen=True)
class Metric:
    """What a rule's chart plots: a column of its results, scaled, and its allowed band."""

    label: str
    column: str  # observed_value or failing_rows
    scale: float
    low: float | None = None
    high: float | None = None


def metric(check_type: str, threshold: str | None) -> Metric:
    """The chart axis for a rule whose fail level reads `threshold` (as stored with each result)."""
    text = threshold or ""
    if m := _ROWS.match(text):
        return Metric("failing rows", "failing_rows", 1.0, None, float(m.group(1)))
    if m := _FRACTION.match(text):
        label = "null rate, %" if check_type == "null_rate" else "failing rows, % of rows"
        return Metric(label, "observed_value", 100.0, None, float(m.group(1)))
    if m := _OLDER.match(text):
        seconds = sum(int(n) * _AGE_SECONDS[u] for n, u in _AGE_PART.findall(m.group(1)))
        return Metric("age of the newest row, hours", "observed_value", 1 / 3600, None, seconds / 3600)
    unit = "rows" if check_type == "row_count" else "observed value"
    if m := _BETWEEN.match(text):
        return Metric(unit, "observed_value", 1.0, float(m.group(1)), float(m.group(2)))
    if m := _BELOW.match(text):
        return Metric(unit, "observed_value", 1.0, float(m.group(1)), None)
    if m := _ABOVE.match(text):
        return Metric(unit, "observed_value", 1.0, None, float(m.group(1)))
    return Metric(unit, "observed_value", 1.0)
