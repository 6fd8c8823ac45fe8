"""Today's schema, written out: every table, column, constraint and index, and the audit-log triggers.

Revision ID: 0001_baseline
Revises: (none)

Equal to what the pre-Alembic migrations built (0001_initial, 0002_audit_append_only,
0003_console_ack_index; tests/store/test_migrations_legacy.py compares it with snapshots of such
stores). Frozen: never edit it; change the schema in a new revision. Each part is a function
because a store recorded by the pre-Alembic code with only some of those steps gets the
missing ones (store/migrations.py LEGACY).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None

TABLES = (  # in creation order: parents before children
    "alerts", "audit_log", "bypass_requests", "rule_versions", "rules", "run_requests", "runs", "schedule_claims", "scheduler_heartbeats", "schema_migrations", "suite_leases", "suites", "violations", "bypass_approvals", "results", "violation_samples",
)


def upgrade() -> None:
    tables()
    audit_append_only()
    ack_index()


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    for name in reversed(TABLES):  # children before parents
        op.drop_table(name)


def tables() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("violation_id", sa.Integer()),
        sa.Column("rule_name", sa.String(200)),
        sa.Column("suite", sa.String(200)),
        sa.Column("severity", sa.String(10)),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("destination", sa.String(500)),
        sa.Column("dedup_key", sa.String(200)),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("suppressed_reason", sa.Text()),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime()),
        sa.Column("last_error", sa.Text()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime()),
    )
    op.create_index("ix_alerts_created", "alerts", ["created_at"])
    op.create_index("ix_alerts_status", "alerts", ["status", "next_attempt_at"])
    op.create_index("ix_alerts_violation_id", "alerts", ["violation_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("entity", sa.String(40), nullable=False),
        sa.Column("entity_id", sa.String(200)),
        sa.Column("details", sa.JSON(), nullable=False),
    )
    op.create_index("ix_audit_at", "audit_log", ["at"])
    op.create_index("ix_audit_entity", "audit_log", ["entity", "entity_id"])
    op.create_table(
        "bypass_requests",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("suite", sa.String(200), nullable=False),
        sa.Column("table_name", sa.String(400), nullable=False),
        sa.Column("layer", sa.String(20), nullable=False),
        sa.Column("data_classes", sa.JSON(), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("incident_id", sa.String(100), nullable=False),
        sa.Column("incident_url", sa.String(500), nullable=False),
        sa.Column("failure_details", sa.Text(), nullable=False),
        sa.Column("run_id", sa.Integer()),
        sa.Column("violation_ids", sa.JSON(), nullable=False),
        sa.Column("business_impact", sa.Text(), nullable=False),
        sa.Column("duration_hours", sa.Float(), nullable=False),
        sa.Column("impact_assessment", sa.Text(), nullable=False),
        sa.Column("rollback_plan", sa.Text(), nullable=False),
        sa.Column("fix_timeline", sa.Text(), nullable=False),
        sa.Column("alternative_plan", sa.Text(), nullable=False),
        sa.Column("status", sa.String(15), nullable=False),
        sa.Column("activated_at", sa.DateTime()),
        sa.Column("expires_at", sa.DateTime()),
        sa.Column("closed_at", sa.DateTime()),
        sa.Column("closed_by", sa.String(200)),
        sa.Column("close_note", sa.Text()),
        sa.Column("signature", sa.String(128)),
    )
    op.create_index("ix_bypass_status", "bypass_requests", ["status", "suite"])
    op.create_table(
        "rule_versions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("rule_name", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("change", sa.String(20), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("diff", sa.JSON(), nullable=False),
        sa.Column("changed_by", sa.String(200), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.UniqueConstraint("rule_name", "version"),
    )
    op.create_index("ix_rule_versions_rule_name", "rule_versions", ["rule_name"])
    op.create_table(
        "rules",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("suite", sa.String(200), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("table_name", sa.String(400), nullable=False),
        sa.Column("check_type", sa.String(50), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("status_reason", sa.Text()),
        sa.Column("schedule", sa.String(100)),
        sa.Column("use_sampling", sa.Boolean(), nullable=False),
        sa.Column("sample_size", sa.Integer()),
        sa.Column("partition_column", sa.String(200)),
        sa.Column("alert_cooldown_minutes", sa.Integer()),
        sa.Column("owner", sa.String(200)),
        sa.Column("description", sa.Text()),
        sa.Column("file", sa.String(500)),
        sa.Column("line", sa.Integer()),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("definition_hash", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_rules_suite", "rules", ["suite"])
    op.create_table(
        "run_requests",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("suite", sa.String(200), nullable=False),
        sa.Column("rule_name", sa.String(200)),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("origin", sa.String(20), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("claimed_by", sa.String(200)),
        sa.Column("claimed_at", sa.DateTime()),
        sa.Column("finished_at", sa.DateTime()),
        sa.Column("run_id", sa.Integer()),
        sa.Column("error", sa.Text()),
    )
    op.create_index("ix_run_requests_status", "run_requests", ["status", "requested_at"])
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("suite", sa.String(200), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("trigger", sa.String(20), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime()),
        sa.Column("duration_ms", sa.Float()),
        sa.Column("rows_read", sa.BigInteger()),
        sa.Column("rules_total", sa.Integer()),
        sa.Column("rules_failed", sa.Integer()),
        sa.Column("rules_error", sa.Integer()),
        sa.Column("due_at", sa.DateTime()),
        sa.Column("requested_by", sa.String(200)),
        sa.Column("worker", sa.String(200)),
        sa.Column("error", sa.Text()),
    )
    op.create_index("ix_runs_started", "runs", ["started_at"])
    op.create_index("ix_runs_status", "runs", ["status"])
    op.create_index("ix_runs_suite_started", "runs", ["suite", "started_at"])
    op.create_table(
        "schedule_claims",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("suite", sa.String(200), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("claimed_by", sa.String(200), nullable=False),
        sa.Column("claimed_at", sa.DateTime(), nullable=False),
        sa.Column("run_id", sa.Integer()),
        sa.UniqueConstraint("suite", "due_at", name="uq_schedule_claims_suite_due"),
    )
    op.create_table(
        "scheduler_heartbeats",
        sa.Column("scheduler_id", sa.String(200), primary_key=True),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("beat_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("current_suite", sa.String(200)),
        sa.Column("timezone", sa.String(64)),
    )
    op.create_table(
        "schema_migrations",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("applied_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "suite_leases",
        sa.Column("suite", sa.String(200), primary_key=True),
        sa.Column("holder", sa.String(200)),
        sa.Column("run_id", sa.Integer()),
        sa.Column("acquired_at", sa.DateTime()),
        sa.Column("expires_at", sa.DateTime()),
    )
    op.create_table(
        "suites",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("table_name", sa.String(400), nullable=False),
        sa.Column("layer", sa.String(20), nullable=False),
        sa.Column("data_classes", sa.JSON(), nullable=False),
        sa.Column("pii_columns", sa.JSON(), nullable=False),
        sa.Column("schedule", sa.String(100)),
        sa.Column("owner", sa.String(200)),
        sa.Column("description", sa.Text()),
        sa.Column("file", sa.String(500)),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "violations",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("rule_name", sa.String(200), nullable=False),
        sa.Column("suite", sa.String(200), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("check_type", sa.String(50), nullable=False),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("status", sa.String(15), nullable=False),
        sa.Column("verdict", sa.String(10), nullable=False),
        sa.Column("detected_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("first_run_id", sa.Integer()),
        sa.Column("last_run_id", sa.Integer()),
        sa.Column("observed_value", sa.Float()),
        sa.Column("worst_value", sa.Float()),
        sa.Column("threshold", sa.Text()),
        sa.Column("failing_rows", sa.BigInteger()),
        sa.Column("message", sa.Text()),
        sa.Column("sample", sa.JSON()),
        sa.Column("acknowledged", sa.Boolean(), nullable=False),
        sa.Column("acknowledged_by", sa.String(200)),
        sa.Column("acknowledged_at", sa.DateTime()),
        sa.Column("ack_note", sa.Text()),
        sa.Column("snoozed_until", sa.DateTime()),
        sa.Column("resolved_at", sa.DateTime()),
        sa.Column("resolved_by", sa.String(200)),
        sa.Column("resolution", sa.String(30)),
        sa.Column("resolution_note", sa.Text()),
    )
    op.create_index("ix_violations_detected", "violations", ["detected_at"])
    op.create_index("ix_violations_rule_detected", "violations", ["rule_name", "detected_at"])
    op.create_index("ix_violations_status", "violations", ["status", "detected_at"])
    op.create_index("ix_violations_unacked", "violations", ["acknowledged", "detected_at"])
    op.create_table(
        "bypass_approvals",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.Integer(), sa.ForeignKey("bypass_requests.id"), nullable=False),
        sa.Column("approver", sa.String(200), nullable=False),
        sa.Column("role", sa.String(30), nullable=False),
        sa.Column("decision", sa.String(10), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("decided_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("request_id", "approver", name="uq_bypass_approvals_request_approver"),
    )
    op.create_index("ix_bypass_approvals_request_id", "bypass_approvals", ["request_id"])
    op.create_table(
        "results",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("rule_name", sa.String(200), nullable=False),
        sa.Column("suite", sa.String(200), nullable=False),
        sa.Column("check_type", sa.String(50), nullable=False),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("observed_value", sa.Float()),
        sa.Column("observed_text", sa.Text()),
        sa.Column("warn_level", sa.Text()),
        sa.Column("fail_level", sa.Text()),
        sa.Column("failing_rows", sa.BigInteger()),
        sa.Column("rows_tested", sa.BigInteger()),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("message", sa.Text()),
        sa.Column("duration_ms", sa.Float()),
        sa.Column("finished_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_results_finished", "results", ["finished_at"])
    op.create_index("ix_results_rule_finished", "results", ["rule_name", "finished_at"])
    op.create_index("ix_results_run", "results", ["run_id"])
    op.create_table(
        "violation_samples",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("violation_id", sa.Integer(), sa.ForeignKey("violations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("captured_at", sa.DateTime(), nullable=False),
        sa.Column("failing_rows", sa.BigInteger()),
        sa.Column("rows", sa.JSON(), nullable=False),
    )
    op.create_index("ix_violation_samples_violation_id", "violation_samples", ["violation_id"])



def audit_append_only() -> None:
    """Refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL) on audit_log at the database."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
                "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
            )
    elif bind.dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
        )


def ack_index() -> None:
    """The Health page's alert response time reads violations by acknowledgement time."""
    op.create_index("ix_violations_acknowledged_at", "violations", ["acknowledged_at"])
