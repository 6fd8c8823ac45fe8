"""Metric history per (rule, metric) for anomaly detection, with on-call's "exclude from training" marks.

Revision ID: 0080_metric_points
Revises: 0070_bypass_manual_fix
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0080_metric_points"
down_revision = "0070_bypass_manual_fix"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metric_points",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(50), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("value", sa.Float()),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("run_id", sa.Integer()),
        sa.Column("origin", sa.String(10), nullable=False),
        sa.Column("excluded", sa.Boolean(), nullable=False),
        sa.Column("excluded_by", sa.String(200)),
        sa.Column("excluded_at", sa.DateTime()),
        sa.Column("excluded_note", sa.Text()),
        sa.UniqueConstraint("rule_id", "metric", "at", name="uq_metric_points_rule_metric_at"),
    )
    op.create_index("ix_metric_points_at", "metric_points", ["at"])


def downgrade() -> None:
    op.drop_table("metric_points")
