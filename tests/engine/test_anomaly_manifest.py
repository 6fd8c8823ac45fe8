"""`check: anomaly` and `anomaly:` blocks through the manifest parser: settings parsed, every mistake named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.anomaly import AnomalySettings
from engine.errors import ManifestError
from engine.manifest import load_catalog
from engine.model import Rule

HEAD = """\
sources:
  warehouse: {kind: sql}
---
suite: silver.events
source: warehouse
table: events
layer: silver
rules:
"""


def _load(tmp_path: Path, rule: str) -> list[Rule]:
    path = tmp_path / "events.yaml"
    path.write_text(HEAD + rule)
    return list(load_catalog([path]).rules)


def test_settings_are_parsed_into_the_rule(tmp_path: Path) -> None:
    [volume, rows] = _load(tmp_path, """\
  - name: volume
    check: anomaly
    metric: rows_per_bucket
    timestamp_column: created_at
    bucket: 1h
    severity: HIGH
    anomaly:
      sensitivity: 4
      seasonality: hour_of_week
      min_training_points: 100
      min_absolute_change: 50
      min_relative_change: "10%"
      direction: down
      training_window: 8w
      detection_period: 2h
  - {name: rows, check: row_count, min: 1, severity: LOW, anomaly: {}}
""")

    assert volume.anomaly == AnomalySettings(seasonality="hour_of_week", sensitivity=4.0, min_training_points=100,
                                             min_abs_change=50.0, min_rel_change=0.1, direction="down",
                                             training_days=56.0, detection_hours=2.0)
    assert rows.anomaly == AnomalySettings()  # an empty block: the defaults


def test_a_rule_without_a_block_is_not_watched_and_check_anomaly_always_is(tmp_path: Path) -> None:
    [plain, watched] = _load(tmp_path, """\
  - {name: rows, check: row_count, min: 1, severity: LOW}
  - {name: volume, check: anomaly, metric: row_count, severity: LOW}
""")

    assert (plain.anomaly, watched.anomaly) == (None, AnomalySettings())


BAD = [
    ("an unknown metric", "{check: anomaly, metric: volume}", "metric", r"unknown value 'volume'.*row_count, rows_per_bucket"),
    ("a per-column metric without its column", "{check: anomaly, metric: mean}", None, r"metric: mean needs `column:`"),
    ("rows per bucket without a timestamp", "{check: anomaly, metric: rows_per_bucket}", None,
     r"rows_per_bucket needs `timestamp_column:`"),
    ("a bucket without a timestamp", "{check: anomaly, metric: row_count, bucket: 1h}", None,
     r"`bucket:` needs `timestamp_column:`"),
    ("a bucket below a minute", "{check: anomaly, metric: row_count, timestamp_column: ts, bucket: 30s}", None,
     r"at least 1m"),
    ("freshness has no bucket", "{check: anomaly, metric: freshness, column: ts, timestamp_column: ts, bucket: 1d}",
     None, r"freshness has no bucket"),
    ("settings at the top level", "{check: anomaly, metric: row_count, sensitivity: 3}", "sensitivity",
     r"unknown key.*allowed keys are .*anomaly"),
    ("an unknown setting", "{check: anomaly, metric: row_count, anomaly: {sensitivty: 3}}", "sensitivty",
     r"unknown key in the `anomaly:` block.*sensitivity, seasonality"),
    ("a negative sensitivity", "{check: anomaly, metric: row_count, anomaly: {sensitivity: -1}}", "sensitivity",
     r"must be a number above 0, got -1.*sensitivity: 3"),
    ("an unknown seasonality", "{check: anomaly, metric: row_count, anomaly: {seasonality: weekly}}", "seasonality",
     r"unknown value 'weekly'.*none, hour_of_day, day_of_week, hour_of_week, auto"),
    ("an unknown direction", "{check: anomaly, metric: row_count, anomaly: {direction: sideways}}", "direction",
     r"use any of up, down, both"),
    ("one training point", "{check: anomaly, metric: row_count, anomaly: {min_training_points: 1}}",
     "min_training_points", r"from 2 to 100000"),
    ("a relative change that is no number", "{check: anomaly, metric: row_count, anomaly: {min_relative_change: lots}}",
     "min_relative_change", r'"10%"'),
    ("a training window that is no duration", "{check: anomaly, metric: row_count, anomaly: {training_window: forever}}",
     "training_window", r"'forever' is not a duration"),
    ("a detection period as long as the training", "{check: anomaly, metric: row_count, anomaly: {training_window: 7d, "
     "detection_period: 7d}}", "detection_period", r"nothing would be left to train on"),
    ("a block that is no mapping", "{check: row_count, min: 1, anomaly: yes}", "anomaly", r"must be a mapping"),
    ("a schema rule watched", "{check: schema, columns: {id: int}, anomaly: {}}", "anomaly", r"no number to watch"),
]


@pytest.mark.parametrize(("rule", "key", "match"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_each_mistake_names_the_file_line_rule_and_fix(tmp_path: Path, rule: str, key: str | None, match: str) -> None:
    with pytest.raises(ManifestError) as caught:
        _load(tmp_path, f"  - {{name: watched, severity: HIGH, {rule[1:]}\n")

    [problem] = caught.value.problems
    assert (problem.file, problem.line, problem.rule) == (str(tmp_path / "events.yaml"), 9, "watched")
    if key is not None:
        assert problem.key == key
    assert problem.hint
    assert re.search(match, f"{problem.message}. Hint: {problem.hint}"), problem
