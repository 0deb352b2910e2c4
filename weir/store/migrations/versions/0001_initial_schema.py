"""Initial schema: the tables Weir created directly before its schema was versioned.

A store without an ``alembic_version`` table is stamped with this revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "weir_executions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("flow", sa.String(253), nullable=False),
        sa.Column("revision", sa.String(64), nullable=False),
        sa.Column("trigger_kind", sa.String(16), nullable=False),
        sa.Column("trigger", sa.Text),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float),
        sa.Column("duration_ms", sa.Float),
        sa.Column("error", sa.Text),
        sa.Column("result", sa.Text),
        sa.Column("replay_of", sa.String(32)),
    )
    for column in ("flow", "status", "started_at"):
        op.create_index(f"ix_weir_executions_{column}", "weir_executions", [column])
    op.create_table(
        "weir_node_runs",
        sa.Column("execution_id", sa.String(32), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("node", sa.String(63), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Text),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float, nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=False),
        sa.Column("input", sa.Text),
        sa.Column("output", sa.Text),
        sa.Column("error", sa.Text),
    )


def downgrade() -> None:
    op.drop_table("weir_node_runs")
    op.drop_table("weir_executions")
