"""Anomaly rules at run time: backfill a new rule's history, record each point, judge it on the clean history.

`run_suite` calls `backfill_new` before its write transaction (it reads the source) and
`judge_report` inside it, so a point, its verdict and the violation it opens commit together.
The verdict becomes the rule's result: FAILED goes down the one violation path every rule uses
(severity, cooldown, escalation, acknowledgement, auto-resolve when the metric is back in its
band); PASSED; or NOT_ENOUGH_HISTORY for a `check: anomaly` rule whose metric has too little
clean history. A rule with an `anomaly:` block keeps its own verdict unless the detector finds
an anomaly (then FAILED); its metric is its observed value, recorded at each run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import polars as pl
from sqlalchemy.engine import Connection, Engine

import settings
from engine import anomaly as detector
from engine.backfill import backfillable, bucket_history
from engine.checks import metric_label
from engine.errors import EngineError
from engine.evaluate import sentence
from engine.model import Rule, Source, Suite
from engine.results import RuleResult, SuiteReport, Verdict
from engine.sources import mask
from ops import permissions, roles
from store import db, metrics
from store.errors import NotFound
from store.results import rule_ids
from store.rules import live_suite, suite_of_rule

log = logging.getLogger(__name__)
OBSERVED = "observed"  # the metric of a rule with an `anomaly:` block: its own observed value
CHART_BANDS = 120  # the rule page draws the band of the newest points only (each one is a detection)
JUDGED = (Verdict.PASSED, Verdict.WARNED, Verdict.FAILED, Verdict.NOT_ENOUGH_HISTORY)


def metric_of(rule: Rule) -> str:
    return str(rule.params["metric"]) if rule.check == "anomaly" else OBSERVED


def watched(suite: Suite) -> list[Rule]:
    return [r for r in suite.rules if r.anomaly is not None]


def backfill_new(suite: Suite, report: SuiteReport, sources: Mapping[str, Source],
                 engine: Engine | None = None) -> dict[str, int | str]:
    """Fill the history of each bucketed anomaly rule that has none yet: new points per rule, or why not.

    One query per rule, bounded by DQ_ANOMALY_BACKFILL_BUCKETS. A rule whose backfill fails is
    judged on what history there is; the reason goes into its result (judge_report's `notes`) and the log.
    """
    results = {r.rule_name: r for r in report.results}
    candidates = [r for r in watched(suite) if backfillable(r) and r.name in results
                  and results[r.name].status in JUDGED]
    if not candidates:
        return {}
    with db.read(engine) as conn:
        ids = rule_ids(conn, [r.name for r in candidates])
        fresh = [r for r in candidates if r.name in ids and not metrics.has_history(conn, ids[r.name], metric_of(r))]
    added: dict[str, int | str] = {}
    for rule in fresh:
        try:
            points = bucket_history(suite, rule, sources, report.started_at, settings.get("DQ_ANOMALY_BACKFILL_BUCKETS"))
        except (EngineError, pl.exceptions.PolarsError) as exc:
            added[rule.name] = f"the history could not be backfilled: {mask(str(exc))}"
            log.warning("backfill of rule %s failed: %s", rule.name, added[rule.name])
            continue
        with db.write(engine) as conn:
            added[rule.name] = metrics.record_backfill(conn, ids[rule.name], metric_of(rule), points,
                                                       report.finished_at)
    return added


def judge_report(conn: Connection, suite: Suite, report: SuiteReport, run_id: int | None, *,
                 record: bool = True, notes: Mapping[str, int | str] | None = None) -> SuiteReport:
    """The report with each watched rule's result judged on its history (and its point recorded).

    `notes`: backfill_new's answer; a failed backfill's reason is added to the rule's message.
    """
    rules = {r.name: r for r in watched(suite)}
    if not rules:
        return report
    ids = rule_ids(conn, list(rules))
    judged = []
    for result in report.results:
        rule = rules.get(result.rule_name)
        if rule is None or result.rule_name not in ids or result.status not in JUDGED or result.observed_value is None:
            judged.append(result)
            continue
        result = _judge(conn, suite, rule, ids[rule.name], result, report, run_id, record)
        note = (notes or {}).get(rule.name)
        if isinstance(note, str):
            result = replace(result, message=f"{result.message} ({note})", metrics={**result.metrics, "backfill_error": note})
        judged.append(result)
    return replace(report, results=tuple(judged))


def _point_at(rule: Rule, result: RuleResult, report: SuiteReport) -> datetime:
    text = result.metrics.get("point_at") if rule.check == "anomaly" else None
    return datetime.fromisoformat(str(text)) if text else report.finished_at


def _judge(conn: Connection, suite: Suite, rule: Rule, rule_id: int, result: RuleResult, report: SuiteReport,
           run_id: int | None, record: bool) -> RuleResult:
    settings_ = rule.anomaly
    assert settings_ is not None and result.observed_value is not None
    metric, at, value = metric_of(rule), _point_at(rule, result, report), float(result.observed_value)
    if record:
        metrics.record_point(conn, rule_id, metric, at, value, recorded_at=report.finished_at, run_id=run_id)
    history = metrics.history(conn, rule_id, metric, suite.name, since=at - timedelta(days=settings_.training_days),
                              judged_at=at, detection=timedelta(hours=settings_.detection_hours))
    verdict = detector.detect(history.filter(pl.col("at") < at), at, value, settings_)
    label = metric_label(rule.params) if rule.check == "anomaly" else _observed_label(rule)
    figures = _figures(verdict, history.filter(pl.col("at") < at))
    if rule.check != "anomaly":
        if verdict.state != "anomaly" or result.status is Verdict.FAILED:
            return replace(result, metrics={**result.metrics, "anomaly": figures})
        return replace(result, status=Verdict.FAILED, metrics={**result.metrics, "anomaly": figures},
                       message=f"{result.message.rstrip('.')}; anomaly: {verdict.sentence(label)}.",
                       fail_level=_band(verdict))
    status = {"anomaly": Verdict.FAILED, "ok": Verdict.PASSED}.get(verdict.state, Verdict.NOT_ENOUGH_HISTORY)
    return replace(result, status=status, message=f"{sentence(rule, suite)}: {verdict.sentence(label)}.",
                   fail_level=_band(verdict), metrics={**result.metrics, **figures})


def _observed_label(rule: Rule) -> str:
    return {"row_count": "rows", "freshness": "age (s)", "null_rate": "null rate"}.get(rule.check, "observed")


def _band(verdict: detector.AnomalyVerdict) -> str | None:
    if verdict.lower is None or verdict.upper is None:
        return None
    return f"outside {verdict.band_text()} ({verdict.season})"


def _figures(verdict: detector.AnomalyVerdict, history: pl.DataFrame) -> dict[str, Any]:
    return {"state": verdict.state, "expected": verdict.expected, "lower": verdict.lower, "upper": verdict.upper,
            "crossed": verdict.crossed, "season": verdict.season, "seasonality": verdict.seasonality,
            "trained_points": verdict.trained_points, "trained_days": round(verdict.trained_days, 2),
            "excluded_points": int(history["excluded"].sum()) if history.height else 0}


# --- the rule page ------------------------------------------------------------------------------


def metric_history(rule_name: str, engine: Engine | None = None) -> pl.DataFrame:
    """The rule page's chart: the live rule's metric history with each point's band from the points
    before it: id, at, value, expected, lower, upper, excluded, reason, anomaly. Empty when not watched."""
    try:
        suite = live_suite(suite_of_rule(rule_name, engine), engine)
    except NotFound:
        return pl.DataFrame()
    rule = next((r for r in suite.rules if r.name == rule_name), None)
    return chart_data(rule, suite, engine) if rule is not None else pl.DataFrame()


def chart_data(rule: Rule, suite: Suite, engine: Engine | None = None) -> pl.DataFrame:
    """metric_history for a parsed rule."""
    if rule.anomaly is None:
        return pl.DataFrame()
    settings_ = rule.anomaly
    with db.read(engine) as conn:
        ids = rule_ids(conn, [rule.name])
        if rule.name not in ids:
            return pl.DataFrame()
        history = metrics.history(conn, ids[rule.name], metric_of(rule), suite.name)
    if history.is_empty():
        return history
    banded = detector.band(history.select("at", "value", "excluded"), settings_, last=CHART_BANDS)
    return history.select("id", "at", "reason").join(banded, on="at", how="left")


def exclude_point(user: roles.User, point_id: int, note: str, engine: Engine | None = None) -> None:
    """On-call marks a point "incident, exclude from training" (role-checked here, audited by the store)."""
    permissions.require(user, "metric_exclude")
    metrics.mark_excluded(point_id, user.name, note, engine)
