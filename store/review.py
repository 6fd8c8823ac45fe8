"""The runbook's weekly rule review: failure rates, coverage, gaps, noise, sampling, unacknowledged work."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

import clock
from store import db
from store.frames import UTC_TIME, frame
from store.kpis import JUDGED
from store.schema import alerts, results, rules, suites, violations

LARGE_TABLE_ROWS = 50_000  # the runbook's "large dataset" line for rules without sampling


def failure_counts(conn: Connection, month: datetime, week: datetime, until: datetime) -> pl.DataFrame:
    """Per rule, in one scan of [month, until): results, FAILED and ERROR counts, also for [week, until)."""
    r = results.c
    recent = r.finished_at >= week

    def count_if(*conditions: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
        return sa.func.sum(sa.case((sa.and_(*conditions), 1), else_=0))

    stmt = (
        sa.select(
            r.rule_name, r.suite, r.severity, sa.func.count(), count_if(r.status == "FAILED"),
            count_if(r.status == "ERROR"), count_if(recent), count_if(recent, r.status == "FAILED"),
            count_if(recent, r.status == "ERROR"),
        )
        .where(r.finished_at >= month, r.finished_at < until, r.status.in_(JUDGED))
        .group_by(r.rule_name, r.suite, r.severity)
    )
    schema = {"rule_name": pl.Utf8, "suite": pl.Utf8, "severity": pl.Utf8, "results": pl.Int64,
              "failed": pl.Int64, "errors": pl.Int64, "results_7d": pl.Int64, "failed_7d": pl.Int64,
              "errors_7d": pl.Int64}
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
    stmt = sa.select(q.name, q.suite, q.source, q.owner, q.use_sampling, q.sample_size).where(q.enabled.is_(True))
    schema = {"name": pl.Utf8, "suite": pl.Utf8, "source": pl.Utf8, "owner": pl.Utf8, "use_sampling": pl.Boolean,
              "sample_size": pl.Int64}
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
    """Rules that opened the most violations and sent the most alerts (alert fatigue)."""
    v, a = violations.c, alerts.c
    opened = (
        sa.select(v.rule_name, v.severity, sa.func.count().label("violations"))
        .where(v.detected_at >= since, v.detected_at < until)
        .group_by(v.rule_name, v.severity)
    )
    sent = (
        sa.select(a.rule_name, sa.func.count())
        .where(a.created_at >= since, a.created_at < until, a.status == "sent")
        .group_by(a.rule_name)
    )
    df = frame(conn, opened, {"rule_name": pl.Utf8, "severity": pl.Utf8, "violations": pl.Int64})
    alerts_df = frame(conn, sent, {"rule_name": pl.Utf8, "alerts_sent": pl.Int64})
    return (
        df.join(alerts_df, on="rule_name", how="left")
        .with_columns(pl.col("alerts_sent").fill_null(0))
        .sort(["violations", "alerts_sent", "rule_name"], descending=[True, True, False])
        .head(limit)
    )


def _latest_rows_tested(conn: Connection, since: datetime) -> pl.DataFrame:
    r = results.c
    newest = (
        sa.select(sa.func.max(r.id).label("id"))
        .where(r.finished_at >= since, r.rows_tested.is_not(None))
        .group_by(r.rule_name)
        .subquery()
    )
    stmt = sa.select(r.rule_name, r.rows_tested).join(newest, newest.c.id == r.id)
    return frame(conn, stmt, {"rule_name": pl.Utf8, "rows_tested": pl.Int64})


def unacknowledged_by_owner(conn: Connection) -> pl.DataFrame:
    """Open (unacknowledged, unresolved) violations per rule owner, oldest first."""
    v, q = violations.c, rules.c
    owner = sa.func.coalesce(q.owner, "(no owner)")
    stmt = (
        sa.select(owner, sa.func.count(), sa.func.min(v.detected_at))
        .select_from(violations.outerjoin(rules, rules.c.name == v.rule_name))
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
        .join(rows_tested, left_on="name", right_on="rule_name", how="left")
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
        enabled.join(failure_30d, left_on="name", right_on="rule_name", how="inner")
        .filter(pl.col("failed") == 0)
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
