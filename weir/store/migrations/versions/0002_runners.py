"""Runners and their heartbeats: each execution names the runner process that records it, and
``weir_runners`` holds one row per live runner, so that the executions of a runner that stopped
can be told from those of one that still runs (``weir.store.runners``).

Executions recorded before this revision have no runner; a sweep marks those still
``running`` as interrupted.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "weir_runners",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("host", sa.String(253), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("process", sa.String(128)),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("heartbeat_at", sa.Float, nullable=False),
    )
    # SQLite adds a column in place: no copy of the table, however many rows it holds.
    with op.batch_alter_table("weir_executions") as batch:
        batch.add_column(sa.Column("runner", sa.String(32)))


def downgrade() -> None:
    with op.batch_alter_table("weir_executions") as batch:
        batch.drop_column("runner")
    op.drop_table("weir_runners")
