"""The execution store's tables, as the queries use them; the migrations in
``weir.store.migrations`` create them, and a test checks that both agree."""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text

metadata = MetaData()

executions = Table(
    "weir_executions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("flow", String(253), nullable=False, index=True),
    Column("revision", String(64), nullable=False),
    Column("trigger_kind", String(16), nullable=False),
    Column("trigger", Text),
    Column("status", String(16), nullable=False, index=True),
    Column("started_at", Float, nullable=False, index=True),
    Column("finished_at", Float),
    Column("duration_ms", Float),
    Column("error", Text),
    Column("result", Text),
    Column("replay_of", String(32)),
    # The runner process that recorded it (weir_runners.id): whose heartbeat keeps it running.
    Column("runner", String(32)),
)

node_runs = Table(
    "weir_node_runs",
    metadata,
    Column("execution_id", String(32), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("node", String(63), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Text),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("input", Text),
    Column("output", Text),
    Column("error", Text),
)

runners = Table(
    "weir_runners",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("host", String(253), nullable=False),
    Column("pid", Integer, nullable=False),
    # Linux: boot id, pid namespace, pid and start time, which tell a process on the same
    # machine that this one is gone without waiting for its heartbeat to go stale.
    Column("process", String(128)),
    Column("started_at", Float, nullable=False),
    Column("heartbeat_at", Float, nullable=False),
)
