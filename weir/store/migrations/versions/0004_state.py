"""The state node's keys (``weir_state``): one row per (namespace, key), the value as JSON
text, a version raised on every write, and an optional expiry that reads and a sweeper honour
(``weir.store.state``). The index on ``expires_at`` lets the sweeper find expired rows without
reading the table."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "weir_state",
        sa.Column("namespace", sa.String(128), primary_key=True),
        sa.Column("key", sa.String(512), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("expires_at", sa.Float),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_weir_state_expires_at", "weir_state", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_weir_state_expires_at", "weir_state")
    op.drop_table("weir_state")
