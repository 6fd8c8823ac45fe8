"""An alert batch's membership and Idempotency-Key, fixed when it is first claimed.

Revision ID: 0040_alerts_batch_key
Revises: 0050_reports_schedule

Was the pre-Alembic migration of the same name (never-silent); history order is merge order.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0040_alerts_batch_key"
down_revision = "0050_reports_schedule"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("alerts", sa.Column("batch_key", sa.String(100)))
    op.create_index("ix_alerts_batch_key", "alerts", ["batch_key"])


def downgrade() -> None:
    op.drop_index("ix_alerts_batch_key", "alerts")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("batch_key")
