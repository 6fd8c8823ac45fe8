"""Precision and recall of the anomaly detector against injected incidents, beside Elementary's z-score.

    python bench/anomaly_bench.py [--series 5] [--seed 17]

Hourly metric series of 70 days: a daily cycle (+-30%), quieter weekends (-40%), a trend
(+0.3% a day) and 3% noise. The last 14 days are judged point by point, each against the
history before it, as the scheduler would. Incidents are injected in those 14 days: drops to
half, spikes to 1.8x, missed loads (0), and a slow drift to +60% over three days. The second
set also has incidents inside the training window (a six-hour outage and a 5x replay), which
nobody marked: the point of Elementary's issue #980.

Ours: engine.anomaly.detect with its defaults (seasonality auto, sensitivity 3); a point it
flags becomes a violation, and violation periods are never trained on (as in the product).
Baseline: a plain z-score, sensitivity 3, over the 56 days up to and including the point judged
(the detection period inside the training window, as Elementary does; issues #1589, #1491).

Truth: a point is an incident when the injection moved it at least 25% off its clean value; the
ramp of the drift below that is neither counted for nor against anyone. The last line is one JSON
object for the seasonal series with incidents in training.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.anomaly import AnomalySettings, detect  # noqa: E402

DAYS, JUDGED_DAYS, TRUTH_SHIFT = 70, 14, 0.25
START = datetime(2026, 8, 3, tzinfo=UTC)  # a Monday


@dataclass
class Series:
    at: list[datetime]
    clean: np.ndarray
    value: np.ndarray
    factor: np.ndarray  # what the injections multiplied the noisy value by (1 = untouched)


def make_series(rng: np.random.Generator, *, incidents_in_training: bool) -> Series:
    n = DAYS * 24
    at = [START + timedelta(hours=i) for i in range(n)]
    hours = np.array([a.hour for a in at])
    weekend = np.array([a.weekday() >= 5 for a in at])
    days = np.arange(n) / 24
    clean = 10_000 * (1 + 0.3 * np.sin(2 * np.pi * (hours - 6) / 24)) * np.where(weekend, 0.6, 1.0) * (1 + 0.003 * days)
    factor = np.ones(n)
    judged_from = (DAYS - JUDGED_DAYS) * 24
    for kind in ("drop", "spike", "missed", "drift", "drop", "spike"):
        start = int(rng.integers(judged_from + 12, n - 80))
        if kind == "drop":
            factor[start:start + 3] *= 0.5
        elif kind == "spike":
            factor[start:start + 2] *= 1.8
        elif kind == "missed":
            factor[start] = 0.0
        else:
            factor[start:start + 72] *= 1 + np.linspace(0, 0.6, 72)
    if incidents_in_training:
        outage = int(rng.integers(24 * 20, 24 * 30))
        factor[outage:outage + 6] = 0.0
        replay = int(rng.integers(24 * 35, 24 * 50))
        factor[replay:replay + 4] *= 5.0
    value = clean * (1 + rng.normal(0, 0.03, n)) * factor
    return Series(at, clean, value, factor)


def truth(series: Series) -> np.ndarray:
    """1 incident, 0 untouched, -1 ignored (a drift ramp still below the 25% line)."""
    shift = np.abs(series.factor - 1)
    return np.where(shift >= TRUTH_SHIFT, 1, np.where(shift == 0, 0, -1))


def ours(series: Series, settings: AnomalySettings) -> np.ndarray:
    n = len(series.at)
    judged_from = (DAYS - JUDGED_DAYS) * 24
    flagged = np.zeros(n, dtype=bool)
    frame = pl.DataFrame({"at": series.at, "value": series.value}, schema={"at": pl.Datetime("us", "UTC"), "value": pl.Float64})
    for i in range(judged_from, n):
        history = frame.head(i).with_columns(excluded=pl.Series(flagged[:i]))
        verdict = detect(history, series.at[i], float(series.value[i]), settings)
        flagged[i] = verdict.state == "anomaly"
    return flagged[judged_from:]


def baseline(series: Series) -> np.ndarray:
    n = len(series.at)
    judged_from = (DAYS - JUDGED_DAYS) * 24
    out = []
    for i in range(judged_from, n):
        window = series.value[max(0, i - 56 * 24):i + 1]  # the point judged is inside its own training data
        mean, std = window.mean(), window.std()
        out.append(std > 0 and abs(series.value[i] - mean) / std > 3)
    return np.array(out)


def scores(predicted: np.ndarray, actual: np.ndarray) -> tuple[int, int, int]:
    counted = actual >= 0
    tp = int((predicted & (actual == 1) & counted).sum())
    fp = int((predicted & (actual == 0)).sum())
    fn = int((~predicted & (actual == 1)).sum())
    return tp, fp, fn


def ratio(a: int, b: int) -> float:
    return round(a / b, 4) if b else 1.0


def run_set(name: str, count: int, seed: int, incidents_in_training: bool) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    totals = {"ours": [0, 0, 0], "baseline": [0, 0, 0]}
    started = time.perf_counter()
    for _ in range(count):
        series = make_series(rng, incidents_in_training=incidents_in_training)
        actual = truth(series)[(DAYS - JUDGED_DAYS) * 24:]
        for who, predicted in (("ours", ours(series, AnomalySettings())), ("baseline", baseline(series))):
            for k, v in enumerate(scores(predicted, actual)):
                totals[who][k] += v
    (tp, fp, fn), (btp, bfp, bfn) = totals["ours"], totals["baseline"]
    result = {"precision": ratio(tp, tp + fp), "recall": ratio(tp, tp + fn),
              "baseline_precision": ratio(btp, btp + bfp), "baseline_recall": ratio(btp, btp + bfn)}
    print(f"{name:34} ours: precision {result['precision']:.3f} recall {result['recall']:.3f} "
          f"(tp {tp}, fp {fp}, fn {fn})   z-score: precision {result['baseline_precision']:.3f} "
          f"recall {result['baseline_recall']:.3f} (tp {btp}, fp {bfp}, fn {bfn})   "
          f"{time.perf_counter() - started:.1f} s")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=5, help="series per set (default 5)")
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    run_set("seasonal", args.series, args.seed, incidents_in_training=False)
    result = run_set("seasonal, incidents in training", args.series, args.seed + 1, incidents_in_training=True)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
