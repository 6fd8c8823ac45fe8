"""Scheduled report ticks (one per tick across replicas) and SLA breach state.

Revision ID: 0050_reports_schedule
Revises: 0001_baseline

Was the pre-Alembic migration of the same name (lead, config/reports.yaml): a store that recorded
it in schema_migrations is stamped here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0050_reports_schedule"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_runs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("report", sa.String(200), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("claimed_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("alert_ids", sa.JSON(), nullable=False),
        sa.UniqueConstraint("report", "due_at", name="uq_report_runs_report_due"),
    )
    op.create_table(
        "sla_states",
        sa.Column("kpi", sa.String(40), primary_key=True),
        sa.Column("breached_since", sa.DateTime(), nullable=False),
        sa.Column("value", sa.Float()),
        sa.Column("target", sa.String(40), nullable=False),
        sa.Column("notified_at", sa.DateTime()),
    )


def downgrade() -> None:
    op.drop_table("sla_states")
    op.drop_table("report_runs")
