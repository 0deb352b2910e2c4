"""The execution store's tables, as the queries use them; the migrations in
``weir.store.migrations`` create them, and a test checks that both agree.

Lists page by keyset on ``(started_at, id)``, newest first: every index a list may walk ends
with those two columns, so that a filtered page is read in order, without sorting ties.
PostgreSQL also has GIN indexes on ``trigger::jsonb`` and ``result::jsonb`` for content
search (``weir.store.search`` queries the same expressions).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)

metadata = MetaData()

executions = Table(
    "weir_executions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("flow", String(253), nullable=False),
    Column("revision", String(64), nullable=False),
    Column("trigger_kind", String(16), nullable=False),
    Column("trigger", Text),
    Column("status", String(16), nullable=False),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float),
    Column("duration_ms", Float),
    Column("error", Text),
    Column("result", Text),
    Column("replay_of", String(32)),
    # The runner process that recorded it (weir_runners.id): whose heartbeat keeps it running.
    Column("runner", String(32)),
    # The Kubernetes namespace of its flow; '' outside a cluster.
    Column("namespace", String(63), nullable=False, server_default=""),
    # The error's "type" (timeout, http …), kept apart so that lists filter on it.
    Column("error_type", String(64)),
)
Index("ix_weir_executions_started", executions.c.started_at, executions.c.id)
for _column in ("flow", "status", "namespace"):
    Index(
        f"ix_weir_executions_{_column}_started",
        executions.c[_column],
        executions.c.started_at,
        executions.c.id,
    )
for _column in ("trigger", "result"):
    Index(
        f"ix_weir_executions_{_column}_json",
        text(f"(CAST({_column} AS jsonb))"),
        postgresql_using="gin",
        postgresql_ops={f"(CAST({_column} AS jsonb))": "jsonb_path_ops"},
        _table=executions,
    ).ddl_if(dialect="postgresql")

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

events = Table(
    "weir_events",
    metadata,
    # Written in commit order (PostgreSQL: under a lock, weir.store.events), never reused
    # (SQLite: AUTOINCREMENT): a reader that saw seq N has seen everything before it.
    Column(
        "seq",
        BigInteger().with_variant(Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("execution_id", String(32), nullable=False),
    Column("flow", String(253), nullable=False),
    Column("namespace", String(63), nullable=False),
    Column("type", String(16), nullable=False),  # 'execution' or 'node'
    Column("status", String(16), nullable=False),
    Column("node", String(63)),  # node events only
    Column("node_seq", Integer),
    Column("at", Float, nullable=False),
    sqlite_autoincrement=True,
)
"""Appended to at the end, never indexed otherwise: an index on the execution id doubled the
cost of writing a batch (docs/recording.md). Readers walk it by seq from a recent number."""

shipping = Table(
    "weir_shipping",
    metadata,
    # Where executions are shipped to (the console's URL), and the last event seq shipped.
    Column("target", String(512), primary_key=True),
    Column("seq", BigInteger().with_variant(Integer(), "sqlite"), nullable=False),
)

cancellations = Table(
    "weir_cancellations",
    metadata,
    Column("execution_id", String(32), primary_key=True),
    Column("runner", String(32)),
    Column("requested_at", Float, nullable=False),
)
Index("ix_weir_cancellations_runner", cancellations.c.runner)

state = Table(
    "weir_state",
    metadata,
    # "flow:<namespace>/<flow>" or "shared:<namespace>" (weir.nodes.state).
    Column("namespace", String(128), primary_key=True),
    Column("key", String(512), primary_key=True),
    Column("value", Text, nullable=False),  # JSON
    Column("version", Integer, nullable=False),
    Column("expires_at", Float),  # seconds since the epoch; NULL: never
    Column("updated_at", Float, nullable=False),
)
Index("ix_weir_state_expires_at", state.c.expires_at)

waits = Table(
    "weir_waits",
    metadata,
    # What a parked execution waits for (weir.store.waits): a timer, a person, a child flow.
    Column("id", String(26), primary_key=True),
    Column("execution_id", String(32), nullable=False),
    Column("node", String(63), nullable=False),
    Column("seq", Integer, nullable=False),  # the parked node run's
    Column("kind", String(16), nullable=False),
    # pending → (resolved →) claimed → resumed | timed_out; or cancelled.
    Column("state", String(16), nullable=False),
    Column("due_at", Float),  # epoch seconds: a timer's time, or a person's deadline
    Column("details", Text),  # JSON, kind-specific
    Column("token_hash", String(64)),  # sha256 hex of a resume secret
    Column("schema", Text),  # JSON Schema of a resume payload
    Column("result", Text),  # JSON: {"output": …} or {"error": …} once resolved
    Column("resolved_by", String(253)),
    Column("claimed_by", String(32)),  # the runner resuming it (weir_runners.id)
    Column("fence", Integer, nullable=False, server_default="0"),  # raised by each claim
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)
Index("ix_weir_waits_state_due", waits.c.state, waits.c.due_at)
Index("ix_weir_waits_execution", waits.c.execution_id)
Index("ix_weir_waits_token", waits.c.token_hash)
