"""Option C of the failover procedure: a manual fix run by hand, recorded beside the bypasses.

Revision ID: 0070_bypass_manual_fix
Revises: 0030_scheduler_fencing

`kind` tells a bypass (the gate may honour it once approved) from a manual fix (a record the
gate never honours). A manual fix keeps its SQL file as sha256, size and text; we never run it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0070_bypass_manual_fix"
down_revision = "0030_scheduler_fencing"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bypass_requests") as batch:
        batch.add_column(sa.Column("kind", sa.String(12), nullable=False, server_default="bypass"))
        batch.add_column(sa.Column("sql_sha256", sa.String(64)))
        batch.add_column(sa.Column("sql_bytes", sa.Integer()))
        batch.add_column(sa.Column("sql_text", sa.Text()))


def downgrade() -> None:
    with op.batch_alter_table("bypass_requests") as batch:
        batch.drop_column("sql_text")
        batch.drop_column("sql_bytes")
        batch.drop_column("sql_sha256")
        batch.drop_column("kind")
