"""A history of scheduler up-time, so availability survives restarts and counts a stop as down time.

Revision ID: 0060_console_scheduler_uptime
Revises: 0041_rule_ids

Was the pre-Alembic migration of the same name (console-oncall).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0060_console_scheduler_uptime"
down_revision = "0041_rule_ids"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scheduler_uptime",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("scheduler_id", sa.String(200), nullable=False),
        sa.Column("up_from", sa.DateTime(), nullable=False),
        sa.Column("up_to", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_scheduler_uptime_up_to", "scheduler_uptime", ["up_to"])
    op.create_index("ix_scheduler_uptime_scheduler", "scheduler_uptime", ["scheduler_id", "id"])


def downgrade() -> None:
    op.drop_table("scheduler_uptime")
