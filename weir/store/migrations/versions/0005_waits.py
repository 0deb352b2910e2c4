"""Durable executions (``weir_waits``): one row per wait of a parked execution — a timer, a
person, a child flow — with its state, due time, resume-secret hash and result
(``weir.store.waits``). The (state, due_at) index lets every runner's waker find due waits
without reading the table; the execution index serves cancels, the token index resumes."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "weir_waits",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("execution_id", sa.String(32), nullable=False),
        sa.Column("node", sa.String(63), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("due_at", sa.Float),
        sa.Column("details", sa.Text),
        sa.Column("token_hash", sa.String(64)),
        sa.Column("schema", sa.Text),
        sa.Column("result", sa.Text),
        sa.Column("resolved_by", sa.String(253)),
        sa.Column("claimed_by", sa.String(32)),
        sa.Column("fence", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_weir_waits_state_due", "weir_waits", ["state", "due_at"])
    op.create_index("ix_weir_waits_execution", "weir_waits", ["execution_id"])
    op.create_index("ix_weir_waits_token", "weir_waits", ["token_hash"])


def downgrade() -> None:
    op.drop_index("ix_weir_waits_token", "weir_waits")
    op.drop_index("ix_weir_waits_execution", "weir_waits")
    op.drop_index("ix_weir_waits_state_due", "weir_waits")
    op.drop_table("weir_waits")
