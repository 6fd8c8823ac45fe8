"""Results and violations carry the rule's id, so a renamed or re-severitied rule stays one rule.

Revision ID: 0041_rule_ids
Revises: 0040_alerts_batch_key

Was the pre-Alembic migration of the same name (never-silent).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0041_rule_ids"
down_revision = "0040_alerts_batch_key"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("results", "violations"):
        op.add_column(table, sa.Column("rule_id", sa.Integer()))
        op.execute(
            f"UPDATE {table} SET rule_id = (SELECT rules.id FROM rules WHERE rules.name = {table}.rule_name) "
            "WHERE rule_id IS NULL"
        )
    op.create_index("ix_results_rule_id_finished", "results", ["rule_id", "finished_at"])
    op.create_index("ix_violations_rule_id", "violations", ["rule_id"])


def downgrade() -> None:
    op.drop_index("ix_violations_rule_id", "violations")
    op.drop_index("ix_results_rule_id_finished", "results")
    for table in ("violations", "results"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("rule_id")
