"""Anomaly detection on a metric's history: a robust seasonal baseline that never trains on incidents.

The model, fitted on the training points only (never the point judged, its detection period, or
points flagged `excluded`: violations on-call saw, bypass windows, points marked as incidents):

    value = level + slope * hours + season[key] + noise

`key` is the point's hour of day, weekday, or hour of week (or nothing). The slope is the median
change between consecutive weeks' medians (robust trend: a steadily growing table is not an
anomaly); the season is the median, per key, of the detrended values; the level is the median
residual of the newest week, so a lasting level shift is learnt within a week. The spread is 1.4826 times the
median absolute deviation of the residuals: medians, not means, so an incident inside the
training window (Elementary #980) neither widens the band nor drags the expectation. `auto`
picks the seasonality whose residual spread is smallest, a finer one only when it beats a
coarser one by at least 10%. A point is an anomaly when it leaves expected +- sensitivity *
spread AND its change exceeds both minimum changes (absolute and relative, Elementary #1933).
Docs: docs/checks.md "Anomaly detection"; figures: bench/anomaly_bench.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import polars as pl

SEASONALITIES = ("none", "hour_of_day", "day_of_week", "hour_of_week", "auto")
DIRECTIONS = ("up", "down", "both")
_CYCLE_HOURS = {"none": 24.0 * 7, "hour_of_day": 24.0 * 7, "day_of_week": 24.0 * 7, "hour_of_week": 24.0 * 7}
_MAD_TO_SIGMA = 1.4826
_FINER_BY = 0.9  # a finer seasonality must cut the residual spread by 10% to be chosen
_DAYS = ("Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays")


@dataclass(frozen=True)
class AnomalySettings:
    seasonality: str = "auto"  # none | hour_of_day | day_of_week | hour_of_week | auto
    sensitivity: float = 3.0  # robust z (MAD units)
    min_training_points: int = 14
    min_abs_change: float = 0.0  # both minimum changes must be exceeded
    min_rel_change: float = 0.0  # fraction, 0.1 = 10%
    direction: str = "both"  # up | down | both
    training_days: float = 56
    detection_hours: float = 0.0  # points this close before the judged one are its detection period: not trained on


@dataclass(frozen=True)
class AnomalyVerdict:
    state: str  # "ok" | "anomaly" | "not_enough_history"
    value: float
    expected: float | None
    lower: float | None
    upper: float | None
    crossed: str | None  # "upper" | "lower" | None
    season: str  # e.g. "Mondays", "09:00", "Mondays 09:00", "all"
    trained_points: int
    trained_days: float = 0.0
    seasonality: str = "none"

    def sentence(self, metric: str) -> str:
        """E.g. "rows 1,204 vs expected 9,800-11,400 (Mondays, 8 weeks)"."""
        if self.state == "not_enough_history":
            return (f"{metric} {_number(self.value)}: not enough history to judge "
                    f"({self.trained_points} training points)")
        return f"{metric} {_number(self.value)} vs expected {self.band_text()} ({self.season}, {_span(self.trained_days)})"

    def band_text(self) -> str:
        """The expected band, a count's in whole units: "9,800-11,400", not "9.8e+03-1.14e+04"."""
        assert self.lower is not None and self.upper is not None
        whole = float(self.value).is_integer() and abs(self.upper) >= 10
        low, high = (float(round(b)) for b in (self.lower, self.upper)) if whole else (self.lower, self.upper)
        return f"{_number(low)}-{_number(high)}"


def _number(value: float) -> str:
    if math.isfinite(value) and abs(value - round(value)) < 1e-9 and abs(value) < 1e15:
        return f"{round(value):,}"
    return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def _span(days: float) -> str:
    if days >= 13.5:
        weeks = round(days / 7)
        return f"{weeks} week{'s' if weeks != 1 else ''}"
    whole = max(1, round(days))
    return f"{whole} day{'s' if whole != 1 else ''}"


# --- seasons -------------------------------------------------------------------------------


def _keys(hours: np.ndarray, weekdays: np.ndarray, seasonality: str) -> np.ndarray:
    if seasonality == "hour_of_day":
        return hours
    if seasonality == "day_of_week":
        return weekdays
    if seasonality == "hour_of_week":
        return weekdays * 24 + hours
    return np.zeros_like(hours)


def _season_name(at: datetime, seasonality: str) -> str:
    if seasonality == "hour_of_day":
        return f"{at:%H}:00"
    if seasonality == "day_of_week":
        return _DAYS[at.weekday()]
    if seasonality == "hour_of_week":
        return f"{_DAYS[at.weekday()]} {at:%H}:00"
    return "all"


@dataclass(frozen=True)
class _Fit:
    seasonality: str
    season: dict[int, float]
    level: float  # the newest cycle's median residual: value = level + slope * hours + season[key]
    slope_per_hour: float
    last_hour: float
    sigma: float
    spread: float  # the residual spread used to compare seasonalities


def _fit(t_hours: np.ndarray, values: np.ndarray, keys: np.ndarray, seasonality: str) -> _Fit | None:
    cycle = _CYCLE_HOURS[seasonality]
    slope = _slope(t_hours, values, cycle)
    detrended = values - slope * t_hours
    season: dict[int, float] = {}
    seasonal = np.zeros_like(values)
    if seasonality != "none":
        groups = (pl.DataFrame({"key": keys, "value": detrended}).group_by("key")
                  .agg(median=pl.col("value").median(), n=pl.len()).sort("key"))
        if int(groups["n"].min()) < 2:  # type: ignore[arg-type]
            return None  # a season seen once cannot be told from an incident
        known = groups["key"].to_numpy()
        offsets = groups["median"].to_numpy() - float(np.median(detrended))
        season = dict(zip(known.tolist(), offsets.tolist(), strict=True))
        seasonal = offsets[np.searchsorted(known, keys)]
    residual = detrended - seasonal
    mad = float(np.median(np.abs(residual - np.median(residual))))
    last = float(t_hours[-1])
    level = float(np.median(residual[t_hours >= last - cycle]))  # the newest cycle: a level shift shows at once
    return _Fit(seasonality, season, level, slope, 0.0, _MAD_TO_SIGMA * mad, mad)


def _slope(t_hours: np.ndarray, values: np.ndarray, cycle: float) -> float:
    """Median of the per-hour changes between consecutive cycles' medians (0 with fewer than 3 cycles)."""
    start = t_hours[0]
    index = np.floor((t_hours - start) / cycle).astype(int)
    medians = [(float(np.median(t_hours[index == i])), float(np.median(values[index == i])))
               for i in np.unique(index) if (index == i).sum() >= 2]
    if len(medians) < 3:
        return 0.0
    steps = [(b[1] - a[1]) / (b[0] - a[0]) for a, b in zip(medians, medians[1:], strict=False) if b[0] > a[0]]
    return float(np.median(steps)) if steps else 0.0


def _choose(t_hours: np.ndarray, values: np.ndarray, hours: np.ndarray, weekdays: np.ndarray,
            settings: AnomalySettings) -> _Fit | None:
    if settings.seasonality != "auto":
        return _fit(t_hours, values, _keys(hours, weekdays, settings.seasonality), settings.seasonality)
    best: _Fit | None = None
    best_spread = math.inf
    span_hours = t_hours[-1] - t_hours[0]
    for seasonality in ("none", "hour_of_day", "day_of_week", "hour_of_week"):
        if seasonality != "none" and span_hours < 2 * _CYCLE_HOURS[seasonality]:
            continue  # fewer than two cycles cannot show a season
        keys = _keys(hours, weekdays, seasonality)
        fit = _fit(t_hours, values, keys, seasonality)
        if fit is None:
            continue
        held_out = _held_out_spread(t_hours, values, keys, fit.slope_per_hour)
        if held_out is not None and (best is None or held_out < best_spread * _FINER_BY):
            best, best_spread = fit, held_out
    return best


def _held_out_spread(t_hours: np.ndarray, values: np.ndarray, keys: np.ndarray, slope: float) -> float | None:
    """The residual spread when each week's seasons are learnt from the other weeks (odd from even and
    back): a season that only fits noise (four points an hour of week) does not look better than none."""
    detrended = values - slope * t_hours
    half = (np.floor(t_hours / _CYCLE_HOURS["hour_of_week"]).astype(int) % 2).astype(bool)
    residuals = []
    for held in (half, ~half):
        if held.sum() == 0 or (~held).sum() == 0:
            return None
        groups = (pl.DataFrame({"key": keys[~held], "value": detrended[~held]}).group_by("key")
                  .agg(median=pl.col("value").median()).sort("key"))
        known, medians = groups["key"].to_numpy(), groups["median"].to_numpy()
        position = np.clip(np.searchsorted(known, keys[held]), 0, len(known) - 1)
        seen = known[position] == keys[held]
        residuals.append(detrended[held][seen] - medians[position][seen])
    pooled = np.concatenate(residuals)
    if len(pooled) < 2:
        return None
    return float(np.median(np.abs(pooled - np.median(pooled))))


# --- the verdict ---------------------------------------------------------------------------


def _arrays(history: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    frame = history.select(
        at=pl.col("at").dt.replace_time_zone(None) if history.schema["at"] == pl.Datetime("us", "UTC") else pl.col("at"),
        value=pl.col("value").cast(pl.Float64),
        excluded=pl.col("excluded").fill_null(False) if "excluded" in history.columns else pl.lit(False),
    ).sort("at")
    at = frame["at"].to_numpy().astype("datetime64[us]")
    return at, frame["value"].to_numpy(), frame["excluded"].to_numpy()


def _naive(at: datetime) -> np.datetime64:
    return np.datetime64(at.astimezone(UTC).replace(tzinfo=None), "us")


def detect(history: pl.DataFrame, at: datetime, value: float, settings: AnomalySettings) -> AnomalyVerdict:
    """Judge `value` observed at `at` against the history before it (columns at, value, excluded)."""
    times, values, excluded = _arrays(history)
    point = _naive(at)
    start = point - np.timedelta64(int(settings.training_days * 24 * 3600), "s")
    end = point - np.timedelta64(int(settings.detection_hours * 3600), "s")
    keep = (times >= start) & (times < end) & ~excluded & np.isfinite(values)
    if settings.detection_hours <= 0:
        keep &= times < point
    train_t, train_v = times[keep], values[keep]
    if len(train_v) < max(settings.min_training_points, 2):
        return AnomalyVerdict("not_enough_history", value, None, None, None, None, "all", int(len(train_v)))
    t_hours = (train_t - train_t[0]).astype("timedelta64[s]").astype(np.float64) / 3600
    stamps = train_t.astype("datetime64[h]")
    hours = (stamps.astype(np.int64) % 24).astype(int)
    weekdays = ((stamps.astype("datetime64[D]").astype(np.int64) + 3) % 7).astype(int)  # 1970-01-01 was a Thursday
    # Volumes grow by factors (a season's swing grows with the table): model them on a log scale.
    multiplicative = bool(train_v.min() >= 0)
    fit = _choose(t_hours, np.log1p(train_v) if multiplicative else train_v, hours, weekdays, settings)
    trained_days = float(t_hours[-1] / 24) if len(t_hours) else 0.0
    if fit is None:
        return AnomalyVerdict("not_enough_history", value, None, None, None, None, "all", int(len(train_v)),
                              trained_days)
    return _judge(fit, at, value, point, train_t[0], settings, int(len(train_v)), trained_days, multiplicative)


def _judge(fit: _Fit, at: datetime, value: float, point: np.datetime64, first: np.datetime64,
           settings: AnomalySettings, trained: int, trained_days: float, multiplicative: bool) -> AnomalyVerdict:
    at_utc = at.astimezone(UTC)
    key = int(_keys(np.array([at_utc.hour]), np.array([at_utc.weekday()]), fit.seasonality)[0])
    point_hours = float((point - first).astype("timedelta64[s]").astype(np.float64) / 3600)
    centre = fit.level + fit.slope_per_hour * point_hours + fit.season.get(key, 0.0)
    half = settings.sensitivity * fit.sigma
    if multiplicative:
        expected, lower, upper = (float(np.expm1(x)) for x in (centre, centre - half, centre + half))
    else:
        expected, lower, upper = centre, centre - half, centre + half
    # Both minimum changes must be exceeded: the band is at least that wide on each side.
    least = max(settings.min_abs_change, settings.min_rel_change * abs(expected), 1e-9 * max(1.0, abs(expected)))
    lower, upper = min(lower, expected - least), max(upper, expected + least)
    crossed = None
    if value > upper and settings.direction in ("up", "both"):
        crossed = "upper"
    elif value < lower and settings.direction in ("down", "both"):
        crossed = "lower"
    return AnomalyVerdict("anomaly" if crossed else "ok", value, expected, lower, upper, crossed,
                          _season_name(at_utc, fit.seasonality), trained, trained_days, fit.seasonality)


def band(history: pl.DataFrame, settings: AnomalySettings, last: int | None = None) -> pl.DataFrame:
    """Each point's expected band from the history before it, for the chart: at, value, expected, lower,
    upper, excluded, anomaly. A point without enough history before it has no band; with `last`, only
    the newest `last` points get one (each detection fits the whole history before it: a chart of
    1,300 hourly points would take seconds)."""
    times, values, excluded = _arrays(history)
    first = 0 if last is None else max(0, len(times) - last)
    rows: list[tuple[datetime, float, float | None, float | None, float | None, bool, bool]] = []
    for i, (t, v) in enumerate(zip(times, values, strict=True)):
        at = t.astype(datetime).replace(tzinfo=UTC)
        if i < first:
            rows.append((at, float(v), None, None, None, bool(excluded[i]), False))
            continue
        before = pl.DataFrame({"at": times[:i], "value": values[:i], "excluded": excluded[:i]},
                              schema={"at": pl.Datetime("us"), "value": pl.Float64, "excluded": pl.Boolean})
        verdict = detect(before, at, float(v), settings)
        rows.append((at, float(v), verdict.expected, verdict.lower, verdict.upper, bool(excluded[i]),
                     verdict.state == "anomaly"))
    return pl.DataFrame(rows, orient="row", schema={
        "at": pl.Datetime("us", "UTC"), "value": pl.Float64, "expected": pl.Float64, "lower": pl.Float64,
        "upper": pl.Float64, "excluded": pl.Boolean, "anomaly": pl.Boolean})
