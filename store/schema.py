"""The store's tables (SQLAlchemy Core). A change here needs a revision in store/alembic/versions/.

Times are stored as naive UTC and returned as aware UTC (UTCDateTime). Verdicts and states
are upper- or lower-case strings listed next to each column; JSON columns hold small documents.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

metadata = sa.MetaData()


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use clock.utcnow()")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer, primary_key=True, autoincrement=True)


schema_migrations = sa.Table(
    "schema_migrations",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("applied_at", UTCDateTime, nullable=False),
)

# --- rules ---------------------------------------------------------------------------------

suites = sa.Table(
    "suites",
    metadata,
    _id(),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("source", sa.String(200), nullable=False),
    sa.Column("table_name", sa.String(400), nullable=False),
    sa.Column("layer", sa.String(20), nullable=False),  # bronze | silver | gold
    sa.Column("data_classes", sa.JSON, nullable=False),  # list of pii | financial | compliance
    sa.Column("pii_columns", sa.JSON, nullable=False),
    sa.Column("schedule", sa.String(100)),
    sa.Column("owner", sa.String(200)),
    sa.Column("description", sa.Text),
    sa.Column("file", sa.String(500)),
    sa.Column("definition", sa.JSON, nullable=False),  # the suite as loaded, without its rules
    sa.Column("enabled", sa.Boolean, nullable=False, default=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

rules = sa.Table(
    "rules",
    metadata,
    _id(),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("suite", sa.String(200), nullable=False, index=True),
    sa.Column("source", sa.String(200), nullable=False),  # the runbook's target_database
    sa.Column("table_name", sa.String(400), nullable=False),
    sa.Column("check_type", sa.String(50), nullable=False),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("severity", sa.String(10), nullable=False),  # INFO LOW MEDIUM HIGH CRITICAL
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # active | disabled | retired | removed
    sa.Column("status_reason", sa.Text),
    sa.Column("schedule", sa.String(100)),
    sa.Column("use_sampling", sa.Boolean, nullable=False, default=False),
    sa.Column("sample_size", sa.Integer),
    sa.Column("partition_column", sa.String(200)),
    sa.Column("alert_cooldown_minutes", sa.Integer),
    sa.Column("owner", sa.String(200)),
    sa.Column("description", sa.Text),
    sa.Column("file", sa.String(500)),
    sa.Column("line", sa.Integer),
    sa.Column("definition", sa.JSON, nullable=False),  # the rule as written in the manifest
    sa.Column("definition_hash", sa.String(64), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

rule_versions = sa.Table(
    "rule_versions",
    metadata,
    _id(),
    sa.Column("rule_name", sa.String(200), nullable=False, index=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("change", sa.String(20), nullable=False),  # added changed disabled enabled retired removed
    sa.Column("definition", sa.JSON, nullable=False),
    sa.Column("diff", sa.JSON, nullable=False),  # {field: [old, new]}
    sa.Column("changed_by", sa.String(200), nullable=False),
    sa.Column("changed_at", UTCDateTime, nullable=False),
    sa.Column("reason", sa.Text),
    sa.UniqueConstraint("rule_name", "version"),
)

# --- runs and results ----------------------------------------------------------------------

runs = sa.Table(
    "runs",
    metadata,
    _id(),
    sa.Column("suite", sa.String(200), nullable=False),
    sa.Column("source", sa.String(200), nullable=False),
    sa.Column("trigger", sa.String(20), nullable=False),  # schedule manual request gate restore
    # RUNNING PASSED WARNED FAILED ERROR ABORTED
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime),
    sa.Column("duration_ms", sa.Float),
    sa.Column("rows_read", sa.BigInteger),
    sa.Column("rules_total", sa.Integer),
    sa.Column("rules_failed", sa.Integer),
    sa.Column("rules_error", sa.Integer),
    sa.Column("due_at", UTCDateTime),  # the schedule tick this run serves, if any
    sa.Column("requested_by", sa.String(200)),
    sa.Column("worker", sa.String(200)),  # scheduler id / host:pid that ran it
    sa.Column("error", sa.Text),
    # The process that created the run: whoever finds it gone (or the deadline passed) marks it ABORTED.
    sa.Column("owner_host", sa.String(200)),
    sa.Column("owner_pid", sa.Integer),
    sa.Column("deadline_at", UTCDateTime),  # the store database's clock
    # A scheduled run that stands for several missed ticks: how many were merged, and the first one.
    sa.Column("merged_ticks", sa.Integer, nullable=False, server_default="0"),
    sa.Column("first_due_at", UTCDateTime),
    sa.Index("ix_runs_started", "started_at"),
    sa.Index("ix_runs_suite_started", "suite", "started_at"),
    sa.Index("ix_runs_status", "status"),
    sa.Index("ix_runs_status_owner", "status", "owner_host"),
)

results = sa.Table(
    "results",
    metadata,
    _id(),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("rule_name", sa.String(200), nullable=False),  # the name when it ran
    sa.Column("rule_id", sa.Integer),  # rules.id: one rule across renames and severity changes (0041)
    sa.Column("suite", sa.String(200), nullable=False),
    sa.Column("check_type", sa.String(50), nullable=False),
    sa.Column("severity", sa.String(10), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),  # PASSED WARNED FAILED ERROR SKIPPED
    sa.Column("observed_value", sa.Float),
    sa.Column("observed_text", sa.Text),  # non-numeric observations, e.g. schema drift
    sa.Column("warn_level", sa.Text),  # human form, e.g. "> 1% of rows"
    sa.Column("fail_level", sa.Text),
    sa.Column("failing_rows", sa.BigInteger),
    sa.Column("rows_tested", sa.BigInteger),
    sa.Column("metrics", sa.JSON, nullable=False),  # check-specific extras
    sa.Column("message", sa.Text),  # the rule's sentence with its figures, or the error
    sa.Column("duration_ms", sa.Float),
    sa.Column("finished_at", UTCDateTime, nullable=False),
    sa.Column("signature", sa.String(64)),  # HMAC over the verdict (store.audit.sign_result); 0090
    sa.Index("ix_results_rule_finished", "rule_name", "finished_at"),
    sa.Index("ix_results_run", "run_id"),
    sa.Index("ix_results_finished", "finished_at"),
    sa.Index("ix_results_rule_id_finished", "rule_id", "finished_at"),
)

# --- violations ----------------------------------------------------------------------------

violations = sa.Table(
    "violations",
    metadata,
    _id(),
    sa.Column("rule_name", sa.String(200), nullable=False),
    sa.Column("rule_id", sa.Integer),  # rules.id (0041)
    sa.Column("suite", sa.String(200), nullable=False),
    sa.Column("source", sa.String(200), nullable=False),
    sa.Column("check_type", sa.String(50), nullable=False),
    sa.Column("severity", sa.String(10), nullable=False),
    sa.Column("status", sa.String(15), nullable=False),  # open acknowledged resolved
    sa.Column("verdict", sa.String(10), nullable=False),  # FAILED or ERROR (latest)
    sa.Column("detected_at", UTCDateTime, nullable=False),
    sa.Column("last_seen_at", UTCDateTime, nullable=False),
    sa.Column("occurrences", sa.Integer, nullable=False),
    sa.Column("first_run_id", sa.Integer),
    sa.Column("last_run_id", sa.Integer),
    sa.Column("observed_value", sa.Float),
    sa.Column("worst_value", sa.Float),
    sa.Column("threshold", sa.Text),
    sa.Column("failing_rows", sa.BigInteger),
    sa.Column("message", sa.Text),
    sa.Column("sample", sa.JSON),  # newest failing-row sample, PII masked
    sa.Column("acknowledged", sa.Boolean, nullable=False, default=False),
    sa.Column("acknowledged_by", sa.String(200)),
    sa.Column("acknowledged_at", UTCDateTime),
    sa.Column("ack_note", sa.Text),
    sa.Column("snoozed_until", UTCDateTime),
    sa.Column("resolved_at", UTCDateTime),
    sa.Column("resolved_by", sa.String(200)),  # "auto" when the rule passed again
    sa.Column("resolution", sa.String(30)),  # auto false_positive fixed_upstream expected other
    sa.Column("resolution_note", sa.Text),
    sa.Index("ix_violations_detected", "detected_at"),
    sa.Index("ix_violations_rule_detected", "rule_name", "detected_at"),
    sa.Index("ix_violations_status", "status", "detected_at"),
    sa.Index("ix_violations_unacked", "acknowledged", "detected_at"),
    sa.Index("ix_violations_acknowledged_at", "acknowledged_at"),
    sa.Index("ix_violations_rule_id", "rule_id"),
)

violation_samples = sa.Table(
    "violation_samples",
    metadata,
    _id(),
    sa.Column("violation_id", sa.Integer, sa.ForeignKey("violations.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("run_id", sa.Integer, nullable=False),
    sa.Column("captured_at", UTCDateTime, nullable=False),
    sa.Column("failing_rows", sa.BigInteger),
    sa.Column("rows", sa.JSON, nullable=False),  # list of {column: value}, PII masked
)

# --- metric history (anomaly detection) ---------------------------------------------------

metric_points = sa.Table(  # one value per (rule, metric, instant); the unique key makes backfill idempotent
    "metric_points",
    metadata,
    _id(),
    sa.Column("rule_id", sa.Integer, nullable=False),  # rules.id: the history survives renames
    sa.Column("metric", sa.String(50), nullable=False),  # rows_per_bucket null_rate ... or observed
    sa.Column("at", UTCDateTime, nullable=False),  # what the value describes: a bucket's start, or the run
    sa.Column("value", sa.Float),
    sa.Column("recorded_at", UTCDateTime, nullable=False),  # when the store learnt it (the run, the backfill)
    sa.Column("run_id", sa.Integer),  # None: backfilled from the table
    sa.Column("origin", sa.String(10), nullable=False),  # run | backfill
    sa.Column("excluded", sa.Boolean, nullable=False, default=False),  # marked "incident, exclude from training"
    sa.Column("excluded_by", sa.String(200)),
    sa.Column("excluded_at", UTCDateTime),
    sa.Column("excluded_note", sa.Text),
    sa.UniqueConstraint("rule_id", "metric", "at", name="uq_metric_points_rule_metric_at"),
    sa.Index("ix_metric_points_at", "at"),
)

# --- scheduler -----------------------------------------------------------------------------

run_requests = sa.Table(
    "run_requests",
    metadata,
    _id(),
    sa.Column("suite", sa.String(200), nullable=False),
    sa.Column("rule_name", sa.String(200)),  # None = the whole suite
    sa.Column("requested_by", sa.String(200), nullable=False),
    sa.Column("requested_at", UTCDateTime, nullable=False),
    sa.Column("origin", sa.String(20), nullable=False),  # cli console gate restore
    sa.Column("status", sa.String(10), nullable=False),  # pending claimed done failed
    sa.Column("claimed_by", sa.String(200)),
    sa.Column("claimed_at", UTCDateTime),
    sa.Column("finished_at", UTCDateTime),
    sa.Column("run_id", sa.Integer),
    sa.Column("error", sa.Text),
    sa.Index("ix_run_requests_status", "status", "requested_at"),
)

scheduler_heartbeats = sa.Table(
    "scheduler_heartbeats",
    metadata,
    sa.Column("scheduler_id", sa.String(200), primary_key=True),
    sa.Column("host", sa.String(200), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("beat_at", UTCDateTime, nullable=False),  # the store database's clock
    sa.Column("status", sa.String(20), nullable=False),  # running stopping stopped
    sa.Column("current_suite", sa.String(200)),
    sa.Column("timezone", sa.String(64)),
    # Fencing token of the registration: bumped by each start; a write with an older one is refused.
    sa.Column("epoch", sa.Integer, nullable=False, server_default="0"),
)

# One row per stretch of time a scheduler process was up: opened at its start, extended by each
# heartbeat, a new row after a restart or a gap in its beats. Availability reads these (0060), so a
# restart no longer overwrites the earlier lifetime kept in scheduler_heartbeats.started_at.
scheduler_uptime = sa.Table(
    "scheduler_uptime",
    metadata,
    _id(),
    sa.Column("scheduler_id", sa.String(200), nullable=False),
    sa.Column("up_from", UTCDateTime, nullable=False),  # the store database's clock
    sa.Column("up_to", UTCDateTime, nullable=False),  # its newest heartbeat in this stretch
    sa.Index("ix_scheduler_uptime_up_to", "up_to"),
    sa.Index("ix_scheduler_uptime_scheduler", "scheduler_id", "id"),
)

suite_leases = sa.Table(
    "suite_leases",
    metadata,
    sa.Column("suite", sa.String(200), primary_key=True),
    sa.Column("holder", sa.String(200)),
    sa.Column("run_id", sa.Integer),
    sa.Column("acquired_at", UTCDateTime),
    sa.Column("expires_at", UTCDateTime),  # the store database's clock
    # Fencing token of the lease: bumped by each take; a write under an older one is refused.
    sa.Column("generation", sa.Integer, nullable=False, server_default="0"),
)

schedule_claims = sa.Table(
    "schedule_claims",
    metadata,
    _id(),
    sa.Column("suite", sa.String(200), nullable=False),
    sa.Column("due_at", UTCDateTime, nullable=False),
    sa.Column("claimed_by", sa.String(200), nullable=False),
    sa.Column("claimed_at", UTCDateTime, nullable=False),
    sa.Column("run_id", sa.Integer),
    sa.UniqueConstraint("suite", "due_at", name="uq_schedule_claims_suite_due"),
)

# --- alerting ------------------------------------------------------------------------------

alerts = sa.Table(
    "alerts",
    metadata,
    _id(),
    sa.Column("violation_id", sa.Integer, index=True),
    sa.Column("rule_name", sa.String(200)),
    sa.Column("suite", sa.String(200)),
    sa.Column("severity", sa.String(10)),
    sa.Column("kind", sa.String(20), nullable=False),  # trigger resolve escalation batch
    sa.Column("channel", sa.String(20), nullable=False),  # slack email pagerduty webhook store
    sa.Column("destination", sa.String(500)),
    sa.Column("dedup_key", sa.String(200)),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("status", sa.String(12), nullable=False),  # pending sent failed suppressed
    sa.Column("suppressed_reason", sa.Text),  # cooldown, snoozed, bypass #12, no channel
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", UTCDateTime),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("sent_at", UTCDateTime),
    # Fixed at the first claim: the rows sent together, and the webhook's Idempotency-Key (0040).
    sa.Column("batch_key", sa.String(100)),
    sa.Index("ix_alerts_status", "status", "next_attempt_at"),
    sa.Index("ix_alerts_created", "created_at"),
    sa.Index("ix_alerts_batch_key", "batch_key"),
)

# --- bypass procedure ----------------------------------------------------------------------

bypass_requests = sa.Table(
    "bypass_requests",
    metadata,
    _id(),
    sa.Column("suite", sa.String(200), nullable=False),
    sa.Column("table_name", sa.String(400), nullable=False),
    sa.Column("layer", sa.String(20), nullable=False),
    sa.Column("data_classes", sa.JSON, nullable=False),
    sa.Column("requested_by", sa.String(200), nullable=False),
    sa.Column("requested_at", UTCDateTime, nullable=False),
    sa.Column("incident_id", sa.String(100), nullable=False),
    sa.Column("incident_url", sa.String(500), nullable=False),
    sa.Column("failure_details", sa.Text, nullable=False),
    sa.Column("run_id", sa.Integer),
    sa.Column("violation_ids", sa.JSON, nullable=False),
    sa.Column("business_impact", sa.Text, nullable=False),
    sa.Column("duration_hours", sa.Float, nullable=False),
    sa.Column("impact_assessment", sa.Text, nullable=False),
    sa.Column("rollback_plan", sa.Text, nullable=False),
    sa.Column("fix_timeline", sa.Text, nullable=False),
    sa.Column("alternative_plan", sa.Text, nullable=False),
    # pending active rejected expired restored rolled_back ended revoked; recorded (an approved manual fix)
    sa.Column("status", sa.String(15), nullable=False),
    sa.Column("activated_at", UTCDateTime),
    sa.Column("expires_at", UTCDateTime),
    sa.Column("closed_at", UTCDateTime),
    sa.Column("closed_by", sa.String(200)),
    sa.Column("close_note", sa.Text),
    sa.Column("signature", sa.String(128)),  # HMAC over the approved terms; tampering breaks it
    # bypass | manual_fix (failover Option C: a record of SQL run by hand, never honoured by the gate)
    sa.Column("kind", sa.String(12), nullable=False, server_default="bypass"),
    sa.Column("sql_sha256", sa.String(64)),  # manual_fix: the SQL file as it was recorded
    sa.Column("sql_bytes", sa.Integer),
    sa.Column("sql_text", sa.Text),
    sa.Index("ix_bypass_status", "status", "suite"),
)

bypass_approvals = sa.Table(
    "bypass_approvals",
    metadata,
    _id(),
    sa.Column("request_id", sa.Integer, sa.ForeignKey("bypass_requests.id"), nullable=False, index=True),
    sa.Column("approver", sa.String(200), nullable=False),
    sa.Column("role", sa.String(30), nullable=False),
    sa.Column("decision", sa.String(10), nullable=False),  # approve reject
    sa.Column("reason", sa.Text),
    sa.Column("decided_at", UTCDateTime, nullable=False),
    sa.Column("signature", sa.String(64)),  # HMAC over the decision (store.audit.sign_approval); 0090
    sa.UniqueConstraint("request_id", "approver", name="uq_bypass_approvals_request_approver"),
)

# --- table data classes (gate-security) ----------------------------------------------------

# The classes in force for a table (source + table): the union over every suite naming it,
# reduced only by an approved class change. Signed like a bypass, so an edited row is noticed.
table_classes = sa.Table(
    "table_classes",
    metadata,
    _id(),
    sa.Column("source", sa.String(200), nullable=False),
    sa.Column("table_name", sa.String(400), nullable=False),
    sa.Column("data_classes", sa.JSON, nullable=False),  # sorted list of pii | financial | compliance
    sa.Column("signature", sa.String(128), nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("updated_by", sa.String(200), nullable=False),
    sa.UniqueConstraint("source", "table_name", name="uq_table_classes_source_table"),
)

# A proposed removal of classes from a table; in force only once a data_eng_lead other than
# its author approves it.
class_changes = sa.Table(
    "class_changes",
    metadata,
    _id(),
    sa.Column("source", sa.String(200), nullable=False),
    sa.Column("table_name", sa.String(400), nullable=False),
    sa.Column("current", sa.JSON, nullable=False),  # the classes in force when proposed
    sa.Column("proposed", sa.JSON, nullable=False),  # the classes the manifests declare
    sa.Column("proposed_by", sa.String(200), nullable=False),
    sa.Column("proposed_at", UTCDateTime, nullable=False),
    sa.Column("status", sa.String(12), nullable=False),  # pending approved rejected withdrawn
    sa.Column("decided_by", sa.String(200)),
    sa.Column("decided_at", UTCDateTime),
    sa.Column("reason", sa.Text),
    sa.Index("ix_class_changes_status", "status", "source", "table_name"),
)

rule_change_requests = sa.Table(  # disabling or retiring a sensitive rule waits for a second person
    "rule_change_requests",
    metadata,
    _id(),
    sa.Column("rule_name", sa.String(200), nullable=False),
    sa.Column("suite", sa.String(200), nullable=False),
    sa.Column("change", sa.String(12), nullable=False),  # disabled | retired
    sa.Column("severity", sa.String(10), nullable=False),  # the rule's, when requested
    sa.Column("data_classes", sa.JSON, nullable=False),  # the table's sensitive classes, when requested
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("requested_by", sa.String(200), nullable=False),
    sa.Column("requested_at", UTCDateTime, nullable=False),
    sa.Column("status", sa.String(12), nullable=False),  # pending approved rejected
    sa.Column("decided_by", sa.String(200)),
    sa.Column("decided_at", UTCDateTime),
    sa.Column("decision_note", sa.Text),
    sa.Index("ix_rule_change_requests_status", "status", "rule_name"),
)

# --- scheduled reports and SLA notices -----------------------------------------------------

report_runs = sa.Table(  # one row per report tick: the unique key makes a tick run once across replicas
    "report_runs",
    metadata,
    _id(),
    sa.Column("report", sa.String(200), nullable=False),
    sa.Column("due_at", UTCDateTime, nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),  # daily weekly
    sa.Column("claimed_by", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("alert_ids", sa.JSON, nullable=False),  # the outbox rows of its deliveries
    sa.UniqueConstraint("report", "due_at", name="uq_report_runs_report_due"),
)

sla_states = sa.Table(  # a KPI off its target: since when, and whether the notice went out
    "sla_states",
    metadata,
    sa.Column("kpi", sa.String(40), primary_key=True),
    sa.Column("breached_since", UTCDateTime, nullable=False),
    sa.Column("value", sa.Float),
    sa.Column("target", sa.String(40), nullable=False),
    sa.Column("notified_at", UTCDateTime),
)

# --- audit ---------------------------------------------------------------------------------

audit_log = sa.Table(
    "audit_log",
    metadata,
    _id(),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("action", sa.String(60), nullable=False),  # e.g. rule.added violation.acknowledged
    sa.Column("entity", sa.String(40), nullable=False),  # rule violation bypass run gate
    sa.Column("entity_id", sa.String(200)),
    sa.Column("details", sa.JSON, nullable=False),
    # The hash chain (0090): row_hash = HMAC(key, canonical JSON of the row + prev_hash), and
    # prev_hash = the row_hash of the row before it, so an edit, deletion or reorder breaks a link.
    sa.Column("prev_hash", sa.String(64)),
    sa.Column("row_hash", sa.String(64)),
    sa.Index("ix_audit_entity", "entity", "entity_id"),
    sa.Index("ix_audit_at", "at"),
)

# The chain's head: one row (id 1) naming the last audit row and its hash, signed. Every
# audit.record() locks it first, so concurrent writers append one after another (no fork), and
# rows cut off the end of the log no longer match it.
audit_chain = sa.Table(
    "audit_chain",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("last_id", sa.Integer, nullable=False),  # 0 = no row yet
    sa.Column("last_hash", sa.String(64), nullable=False),
    sa.Column("signature", sa.String(64), nullable=False),
)
