"""The store's event log: one row per execution snapshot written and one per node run, in the
same transaction as what it describes. The console follows it (``events_after``, stamped on
server-sent events) and a runner ships from it (``weir.store.outbox``).

A reader that saw sequence number N must have seen every event before N. SQLite has one writer
at a time, and AUTOINCREMENT never hands out a number twice. PostgreSQL hands out sequence
numbers before commit, so two transactions could commit out of order: each transaction that
writes events takes one advisory lock first (``lock``), which makes commit order number order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from weir.store.rows import placeholders
from weir.store.tables import events, executions

EXECUTION = "execution"
NODE = "node"
PG_EVENTS_LOCK = 0x5745_4952_4556_5453  # "WEIREVTS"

Statement = tuple[str, list[tuple[Any, ...]]]


@dataclass(frozen=True, slots=True)
class StoreEvent:
    seq: int
    type: str
    """``execution`` (its status changed or it started) or ``node`` (a node run ended)."""
    execution_id: str
    flow: str
    namespace: str
    status: str
    node: str | None
    node_seq: int | None
    at: float
    """When it happened: the execution's start or end, the node run's end (epoch seconds)."""


def lock(dialect: str) -> Statement | None:
    """The statement a transaction writing events runs first (PostgreSQL), else None."""
    if dialect == "sqlite":
        return None
    return "SELECT pg_advisory_xact_lock(%s)", [(PG_EVENTS_LOCK,)]


def insert_sql(dialect: str) -> str:
    """Appends one event for an execution already written in the transaction, taking its flow
    and namespace from its row; values: type, status, node, node_seq, at, execution id."""
    return (
        f"INSERT INTO {events.name} "
        "(execution_id, flow, namespace, type, status, node, node_seq, at) "
        f"SELECT id, flow, namespace, {placeholders(dialect, 5)} "
        f"FROM {executions.name} WHERE id = {placeholders(dialect, 1)}"
    )


def execution_event(id: str, status: str, started: float, finished: float | None) -> tuple:
    return (EXECUTION, str(status), None, None, started if finished is None else finished, id)


def node_event(id: str, status: str, node: str, seq: int, finished: float) -> tuple:
    return (NODE, str(status), node, seq, finished, id)


async def after(
    connection: AsyncConnection,
    seq: int,
    *,
    execution_id: str | None = None,
    flow: str | None = None,
    namespace: str | None = None,
    namespaces: Iterable[str] | None = None,
    limit: int = 500,
) -> list[StoreEvent]:
    query = select(events).where(events.c.seq > seq).order_by(events.c.seq).limit(limit)
    if execution_id is not None:
        query = query.where(events.c.execution_id == execution_id)
    if flow is not None:
        query = query.where(events.c.flow == flow)
    if namespace is not None:
        query = query.where(events.c.namespace == namespace)
    if namespaces is not None:
        query = query.where(events.c.namespace.in_(sorted(namespaces)))
    rows = (await connection.execute(query)).mappings().all()
    return [StoreEvent(**row) for row in rows]


async def last_seq(connection: AsyncConnection) -> int:
    found = (await connection.execute(select(func.max(events.c.seq)))).scalar()
    return int(found or 0)
