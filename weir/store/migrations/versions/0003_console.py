"""The console: executions carry their namespace and error type, lists page by keyset over
composite indexes, every change is an event (``weir_events``) that the console follows and a
runner ships from (``weir_shipping`` holds each target's cursor), and cancel requests wait in
``weir_cancellations`` for the runner that holds the execution.

Executions recorded before have no events: they are not shipped. Their ``error_type`` is
filled in from their error. PostgreSQL gets GIN indexes for content search on the trigger and
the result as jsonb (``weir.store.search``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
GIN = {"trigger": "ix_weir_executions_trigger_json", "result": "ix_weir_executions_result_json"}


def upgrade() -> None:
    # SQLite adds a column in place: no copy of the table, however many rows it holds.
    with op.batch_alter_table("weir_executions") as batch:
        batch.add_column(sa.Column("namespace", sa.String(63), nullable=False, server_default=""))
        batch.add_column(sa.Column("error_type", sa.String(64)))
    _fill_error_types()
    for column in ("flow", "status", "started_at"):
        op.drop_index(f"ix_weir_executions_{column}", "weir_executions")
    op.create_index("ix_weir_executions_started", "weir_executions", ["started_at", "id"])
    for column in ("flow", "status", "namespace"):
        op.create_index(
            f"ix_weir_executions_{column}_started", "weir_executions", [column, "started_at", "id"]
        )
    if op.get_bind().dialect.name == "postgresql":
        for column, name in GIN.items():
            op.execute(
                f"CREATE INDEX {name} ON weir_executions "
                f"USING gin ((CAST({column} AS jsonb)) jsonb_path_ops)"
            )
    op.create_table(
        "weir_events",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("execution_id", sa.String(32), nullable=False),
        sa.Column("flow", sa.String(253), nullable=False),
        sa.Column("namespace", sa.String(63), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("node", sa.String(63)),
        sa.Column("node_seq", sa.Integer),
        sa.Column("at", sa.Float, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "weir_shipping",
        sa.Column("target", sa.String(512), primary_key=True),
        sa.Column("seq", SEQ, nullable=False),
    )
    op.create_table(
        "weir_cancellations",
        sa.Column("execution_id", sa.String(32), primary_key=True),
        sa.Column("runner", sa.String(32)),
        sa.Column("requested_at", sa.Float, nullable=False),
    )
    op.create_index("ix_weir_cancellations_runner", "weir_cancellations", ["runner"])


def _fill_error_types() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE weir_executions SET error_type = left(CAST(error AS jsonb) ->> 'type', 64) "
            "WHERE error IS NOT NULL AND jsonb_typeof(CAST(error AS jsonb) -> 'type') = 'string'"
        )
    else:
        op.execute(
            "UPDATE weir_executions SET error_type = substr(json_extract(error, '$.type'), 1, 64) "
            "WHERE error IS NOT NULL AND json_valid(error) "
            "AND json_type(error, '$.type') = 'text'"
        )


def downgrade() -> None:
    op.drop_table("weir_cancellations")
    op.drop_table("weir_shipping")
    op.drop_table("weir_events")
    if op.get_bind().dialect.name == "postgresql":
        for name in GIN.values():
            op.execute(f"DROP INDEX {name}")
    for column in ("flow", "status", "namespace"):
        op.drop_index(f"ix_weir_executions_{column}_started", "weir_executions")
    op.drop_index("ix_weir_executions_started", "weir_executions")
    for column in ("flow", "status", "started_at"):
        op.create_index(f"ix_weir_executions_{column}", "weir_executions", [column])
    with op.batch_alter_table("weir_executions") as batch:
        batch.drop_column("error_type")
        batch.drop_column("namespace")
