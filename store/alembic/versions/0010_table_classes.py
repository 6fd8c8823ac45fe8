"""Data classes belong to the table (issue 12): the classes in force and proposed removals.

Revision ID: 0010_table_classes
Revises: 0060_console_scheduler_uptime

Was the pre-Alembic migration of the same name (gate-security); history order is merge order.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_table_classes"
down_revision = "0060_console_scheduler_uptime"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "table_classes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("table_name", sa.String(400), nullable=False),
        sa.Column("data_classes", sa.JSON(), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.UniqueConstraint("source", "table_name", name="uq_table_classes_source_table"),
    )
    op.create_table(
        "class_changes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("table_name", sa.String(400), nullable=False),
        sa.Column("current", sa.JSON(), nullable=False),
        sa.Column("proposed", sa.JSON(), nullable=False),
        sa.Column("proposed_by", sa.String(200), nullable=False),
        sa.Column("proposed_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("decided_by", sa.String(200)),
        sa.Column("decided_at", sa.DateTime()),
        sa.Column("reason", sa.Text()),
    )
    op.create_index("ix_class_changes_status", "class_changes", ["status", "source", "table_name"])


def downgrade() -> None:
    op.drop_table("class_changes")
    op.drop_table("table_classes")
