"""Second person for sensitive rules (issue 12): disabling or retiring a HIGH or CRITICAL rule on a pii,
financial or compliance table waits in rule_change_requests until a different data_eng_lead approves.

Revision ID: 0085_rule_change_requests
Revises: 0080_metric_points
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0085_rule_change_requests"
down_revision = "0080_metric_points"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rule_change_requests",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("rule_name", sa.String(200), nullable=False),
        sa.Column("suite", sa.String(200), nullable=False),
        sa.Column("change", sa.String(12), nullable=False),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("data_classes", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("decided_by", sa.String(200)),
        sa.Column("decided_at", sa.DateTime()),
        sa.Column("decision_note", sa.Text()),
    )
    op.create_index("ix_rule_change_requests_status", "rule_change_requests", ["status", "rule_name"])


def downgrade() -> None:
    op.drop_table("rule_change_requests")
