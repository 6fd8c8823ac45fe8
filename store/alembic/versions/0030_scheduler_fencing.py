"""Run owners and deadlines, merged ticks, and the fencing tokens of registrations and leases.

Revision ID: 0030_scheduler_fencing
Revises: 0010_table_classes

Was the pre-Alembic migration of the same name (scheduler-reliability).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0030_scheduler_fencing"
down_revision = "0010_table_classes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("owner_host", sa.String(200)))
    op.add_column("runs", sa.Column("owner_pid", sa.Integer()))
    op.add_column("runs", sa.Column("deadline_at", sa.DateTime()))
    op.add_column("runs", sa.Column("merged_ticks", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("runs", sa.Column("first_due_at", sa.DateTime()))
    op.add_column("scheduler_heartbeats", sa.Column("epoch", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("suite_leases", sa.Column("generation", sa.Integer(), nullable=False, server_default="0"))
    op.create_index("ix_runs_status_owner", "runs", ["status", "owner_host"])


def downgrade() -> None:
    op.drop_index("ix_runs_status_owner", "runs")
    for table, columns in (("suite_leases", ("generation",)), ("scheduler_heartbeats", ("epoch",)),
                           ("runs", ("first_due_at", "merged_ticks", "deadline_at", "owner_pid", "owner_host"))):
        with op.batch_alter_table(table) as batch:
            for name in columns:
                batch.drop_column(name)
