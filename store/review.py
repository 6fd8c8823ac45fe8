"""The runbook's weekly rule review: failure rates, coverage, gaps, noise, sampling, unacknowledged work.

Everything is counted by rule id (results.rule_id, violations.rule_id), never by name or
severity: a rule renamed (`renamed_from`) or re-severitied is one row with its whole history,
shown under its current name, suite and severity. Rows written before ids were recorded fall
back to the rule that has their name now.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

import clock
from store import db
from store.frames import UTC_TIME, frame
from store.kpis import JUDGED
from store.schema import alerts, results, rules, suites, violations

LARGE_TABLE_ROWS = 50_000  # the runbook's "large dataset" line for rules without sampling


def _rule_id(table: sa.Table) -> sa.ColumnElement[int]:
    """The row's rule id; for rows from before ids were recorded, the id of the rule with its name."""
    named = rules.alias("named")  # not the outer query's `rules`, which it would correlate to
    by_name = sa.select(named.c.id).where(named.c.name == table.c.rule_name).limit(1).correlate(table).scalar_subquery()
    return sa.func.coalesce(table.c.rule_id, by_name)


def _current(agg: sa.Subquery, *columns: sa.ColumnElement[Any]) -> sa.Select[Any]:
    """The aggregate per rule id with the rule's current name, suite and severity (else the rows' own)."""
    q = rules.c
    return sa.select(
        sa.func.coalesce(q.name, agg.c.rule_name).label("rule_name"),
        sa.func.coalesce(q.suite, agg.c.suite).label("suite"),
        sa.func.coalesce(q.severity, agg.c.severity).label("severity"),
        *columns,
    ).select_from(agg.outerjoin(rules, q.id == agg.c.rule_id))


def failure_counts(conn: Connection, month: datetime, week: datetime, until: datetime) -> pl.DataFrame:
    """Per rule id, in one scan of [month, until): results, FAILED and ERROR counts, also for [week, until)."""
    r = results.c
    recent = r.finished_at >= week

    def count_if(*conditions: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
        return sa.func.sum(sa.case((sa.and_(*conditions), 1), else_=0))

    rule_id = _rule_id(results)
    agg = (
        sa.select(
            rule_id.label("rule_id"), sa.func.max(r.rule_name).label("rule_name"), sa.func.max(r.suite).label("suite"),
            sa.func.max(r.severity).label("severity"), sa.func.count().label("results"),
            count_if(r.status == "FAILED").label("failed"), count_if(r.status == "ERROR").label("errors"),
            count_if(recent).label("results_7d"), count_if(recent, r.status == "FAILED").label("failed_7d"),
            count_if(recent, r.status == "ERROR").label("errors_7d"),
        )
        .where(r.finished_at >= month, r.finished_at < until, r.status.in_(JUDGED))
        .group_by(rule_id)
        .subquery()
    )
    counts = [agg.c[name] for name in ("results", "failed", "errors", "results_7d", "failed_7d", "errors_7d")]
    stmt = _current(agg, *counts, agg.c.rule_id)
    schema = {"rule_name": pl.Utf8, "suite": pl.Utf8, "severity": pl.Utf8, "results": pl.Int64,
              "failed": pl.Int64, "errors": pl.Int64, "results_7d": pl.Int64, "failed_7d": pl.Int64,
              "errors_7d": pl.Int64, "rule_id": pl.Int64}
    return frame(conn, stmt, schema)


def failure_rates(counts: pl.DataFrame, suffix: str = "") -> pl.DataFrame:
    """Results, FAILED, ERROR and failure rate (%) per rule from `failure_counts` (suffix "_7d" for the week)."""
    picked = counts.select(
        "rule_name", "suite", "severity", results=pl.col(f"results{suffix}"), failed=pl.col(f"failed{suffix}"),
        errors=pl.col(f"errors{suffix}"),
    ).filter(pl.col("results") > 0)
    return picked.with_columns(failure_rate=(100.0 * pl.col("failed") / pl.col("results")).round(2))


def _enabled_rules(conn: Connection) -> pl.DataFrame:
    q = rules.c
    stmt = sa.select(q.id, q.name, q.suite, q.source, q.owner, q.use_sampling, q.sample_size).where(q.enabled.is_(True))
    schema = {"rule_id": pl.Int64, "name": pl.Utf8, "suite": pl.Utf8, "source": pl.Utf8, "owner": pl.Utf8,
              "use_sampling": pl.Boolean, "sample_size": pl.Int64}
    return frame(conn, stmt, schema)


def _suites(conn: Connection) -> pl.DataFrame:
    s = suites.c
    stmt = sa.select(s.name, s.source, s.table_name, s.layer, s.owner)
    schema = {"suite": pl.Utf8, "source": pl.Utf8, "table_name": pl.Utf8, "layer": pl.Utf8, "owner": pl.Utf8}
    return frame(conn, stmt, schema)


def coverage(enabled: pl.DataFrame, suite_table: pl.DataFrame, by: str) -> pl.DataFrame:
    """Enabled rules and covered tables per source or per layer (a group with no rule shows 0)."""
    per_suite = enabled.group_by("suite").agg(rules=pl.len())
    joined = suite_table.join(per_suite, on="suite", how="left").with_columns(pl.col("rules").fill_null(0))
    return (
        joined.group_by(by)
        .agg(enabled_rules=pl.col("rules").sum(), tables=pl.len(),
             tables_with_rules=(pl.col("rules") > 0).sum())
        .sort(by)
    )


def noisy_rules(conn: Connection, since: datetime, until: datetime, limit: int = 20) -> pl.DataFrame:
    """Rules that opened the most violations and sent the most alerts (alert fatigue), by rule id."""
    v, a = violations.c, alerts.c
    rule_id = _rule_id(violations)
    opened = (
        sa.select(rule_id.label("rule_id"), sa.func.max(v.rule_name).label("rule_name"),
                  sa.func.max(v.suite).label("suite"), sa.func.max(v.severity).label("severity"),
                  sa.func.count().label("violations"))
        .where(v.detected_at >= since, v.detected_at < until)
        .group_by(rule_id)
        .subquery()
    )
    sent = (
        sa.select(rule_id.label("rule_id"), sa.func.count())
        .select_from(alerts.join(violations, violations.c.id == a.violation_id))
        .where(a.created_at >= since, a.created_at < until, a.status == "sent")
        .group_by(rule_id)
    )
    df = frame(conn, _current(opened, opened.c.violations, opened.c.rule_id),
               {"rule_name": pl.Utf8, "suite": pl.Utf8, "severity": pl.Utf8, "violations": pl.Int64,
                "rule_id": pl.Int64})
    alerts_df = frame(conn, sent, {"rule_id": pl.Int64, "alerts_sent": pl.Int64})
    return (
        df.join(alerts_df, on="rule_id", how="left")
        .with_columns(pl.col("alerts_sent").fill_null(0))
        .select("rule_name", "severity", "violations", "alerts_sent")
        .sort(["violations", "alerts_sent", "rule_name"], descending=[True, True, False])
        .head(limit)
    )


def _latest_rows_tested(conn: Connection, since: datetime) -> pl.DataFrame:
    r = results.c
    rule_id = _rule_id(results)
    newest = (
        sa.select(rule_id.label("rule_id"), sa.func.max(r.id).label("id"))
        .where(r.finished_at >= since, r.rows_tested.is_not(None))
        .group_by(rule_id)
        .subquery()
    )
    stmt = sa.select(newest.c.rule_id, r.rows_tested).join(newest, newest.c.id == r.id)
    return frame(conn, stmt, {"rule_id": pl.Int64, "rows_tested": pl.Int64})


def unacknowledged_by_owner(conn: Connection) -> pl.DataFrame:
    """Open (unacknowledged, unresolved) violations per rule owner, oldest first."""
    v, q = violations.c, rules.c
    owner = sa.func.coalesce(q.owner, "(no owner)")
    stmt = (
        sa.select(owner, sa.func.count(), sa.func.min(v.detected_at))
        .select_from(violations.outerjoin(rules, rules.c.id == _rule_id(violations)))
        .where(v.status == "open")
        .group_by(owner)
    )
    schema = {"owner": pl.Utf8, "open_violations": pl.Int64, "oldest_detected_at": UTC_TIME}
    return frame(conn, stmt, schema).sort(["open_violations", "owner"], descending=[True, False])


@dataclass(frozen=True)
class WeeklyReview:
    generated_at: datetime
    failure_7d: pl.DataFrame
    failure_30d: pl.DataFrame
    coverage_by_source: pl.DataFrame
    coverage_by_layer: pl.DataFrame
    tables_without_rules: pl.DataFrame
    noisy_rules: pl.DataFrame
    never_failing: pl.DataFrame
    unsampled_large: pl.DataFrame
    unacknowledged_by_owner: pl.DataFrame

    SECTIONS = (
        "failure_7d", "failure_30d", "coverage_by_source", "coverage_by_layer", "tables_without_rules",
        "noisy_rules", "never_failing", "unsampled_large", "unacknowledged_by_owner",
    )

    def sections(self) -> dict[str, pl.DataFrame]:
        return {name: getattr(self, name) for name in self.SECTIONS}

    def to_json(self) -> str:
        body = {name: df.to_dicts() for name, df in self.sections().items()}
        body["generated_at"] = self.generated_at.isoformat()  # type: ignore[assignment]
        return json.dumps(body, default=str, indent=2)


def unsampled_large(enabled: pl.DataFrame, rows_tested: pl.DataFrame) -> pl.DataFrame:
    """The runbook's "rules without sampling" (sample_size > 50,000 and not use_sampling), plus the rules
    that do not sample and actually read more than 50,000 rows in their newest result."""
    by_config = pl.col("sample_size").fill_null(0) > LARGE_TABLE_ROWS
    by_reads = pl.col("rows_tested").fill_null(0) > LARGE_TABLE_ROWS
    return (
        enabled.filter(~pl.col("use_sampling"))
        .join(rows_tested, on="rule_id", how="left")
        .filter(by_config | by_reads)
        .with_columns(why=pl.when(by_config & by_reads).then(pl.lit("sample_size and rows read"))
                      .when(by_config).then(pl.lit("sample_size")).otherwise(pl.lit("rows read")))
        .select("name", "suite", "owner", "sample_size", "rows_tested", "why")
        .sort(pl.max_horizontal(pl.col("sample_size").fill_null(0), pl.col("rows_tested").fill_null(0)),
              descending=True)
    )


def weekly_review(engine: Engine | None = None, now: datetime | None = None) -> WeeklyReview:
    """Everything the Rule review page and `manage.py report weekly` show, computed once."""
    now = now or clock.utcnow()
    week, month = now - timedelta(days=7), now - timedelta(days=30)
    with db.read(engine) as conn:
        counts = failure_counts(conn, month, week, now)
        enabled = _enabled_rules(conn)
        suite_table = _suites(conn)
        noisy = noisy_rules(conn, week, now)
        rows_tested = _latest_rows_tested(conn, month)
        unacked = unacknowledged_by_owner(conn)
    failure_30d, failure_7d = failure_rates(counts), failure_rates(counts, "_7d")
    covered = enabled["suite"].unique()
    never = (
        enabled.join(counts.select("rule_id", "results", "failed", "errors"), on="rule_id", how="inner")
        .filter(pl.col("results") > 0, pl.col("failed") == 0)
        .select("name", "suite", "owner", "results", "errors")
        .sort("name")
    )
    unsampled = unsampled_large(enabled, rows_tested)
    return WeeklyReview(
        generated_at=now,
        failure_7d=failure_7d.filter(pl.col("failed") > 0).sort(["failure_rate", "failed"], descending=True),
        failure_30d=failure_30d.sort(["failure_rate", "failed"], descending=True),
        coverage_by_source=coverage(enabled, suite_table, "source"),
        coverage_by_layer=coverage(enabled, suite_table, "layer"),
        tables_without_rules=suite_table.filter(~pl.col("suite").is_in(covered.implode())).sort("suite"),
        noisy_rules=noisy,
        never_failing=never,
        unsampled_large=unsampled,
        unacknowledged_by_owner=unacked,
    )
