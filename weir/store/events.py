"""The store's event log: one row per execution snapshot written and one per node run, in the
same transaction as what it describes. The console follows it (``events_after``, stamped on
server-sent events) and a runner ships from it (``weir.store.outbox``).

A reader that saw sequence number N must have seen every event before N. SQLite has one writer
at a time, and AUTOINCREMENT never hands out a number twice. PostgreSQL hands out sequence
numbers before commit, so two transactions could commit out of order: the statement appending
events takes an advisory lock before it numbers them, held until commit, which makes commit
order number order. It is every writer's last statement: nobody holds the lock while waiting
for a row another writer holds (a deadlock).
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


class Owners:
    """The flow and namespace of each execution in flight, learnt from its snapshots: a SQLite
    batch then writes its events with them instead of reading them back from each execution's
    row, which cost the writer a lookup per event (5 of 30 µs per one-node execution in a
    batch of 10). An execution that ended or parked is forgotten; a resume's snapshot teaches
    it again."""

    def __init__(self) -> None:
        self._known: dict[str, tuple[str, str]] = {}

    def rows(
        self, happened: list[tuple[Any, ...]], batch: dict[str, tuple[str, str, str]]
    ) -> list[tuple[Any, ...]] | None:
        """``happened`` as rows of the owned insert, taking owners from ``batch`` (execution id
        to flow, namespace and status, the batch's own snapshots) or from earlier batches; None
        if one is not known. Then learns the batch's executions."""
        known = self._known
        rows = []
        for type, status, node, node_seq, at, id in happened:
            owner = batch.get(id) or known.get(id)
            if owner is None:
                break
            rows.append((id, owner[0], owner[1], type, status, node, node_seq, at))
        for id, (flow, namespace, status) in batch.items():
            if status == "running":
                known[id] = (flow, namespace)
            else:
                known.pop(id, None)
        return rows if len(rows) == len(happened) else None


def appending(
    dialect: str, happened: list[tuple[Any, ...]], owned: list[tuple[Any, ...]] | None = None
) -> Statement:
    """The statement appending events (from ``execution_event`` and ``node_event``), in that
    order, for executions already written in the transaction, and its rows. Their flow and
    namespace are taken from the executions' rows, or on SQLite from ``owned`` (the same
    events as rows from ``Owners.rows``) when it is given."""
    if dialect == "sqlite":
        if owned is not None:
            return _SQLITE_OWNED_INSERT, owned
        return insert_sql(dialect), happened
    # One statement for all: executemany sends PostgreSQL a statement per row, which cost as
    # much as writing the executions (64 executions: 2 ms).
    return _PG_INSERT, [tuple(list(column) for column in zip(*happened, strict=True))]


def insert_sql(dialect: str) -> str:
    """Appends one event; values: type, status, node, node_seq, at, execution id."""
    return (
        f"INSERT INTO {events.name} ({_COLUMNS}) "
        f"SELECT id, flow, namespace, {placeholders(dialect, 5)} "
        f"FROM {executions.name} WHERE id = {placeholders(dialect, 1)}"
    )


_COLUMNS = "execution_id, flow, namespace, type, status, node, node_seq, at"
_SQLITE_OWNED_INSERT = (
    f"INSERT INTO {events.name} ({_COLUMNS}) VALUES ({placeholders('sqlite', 8)})"
)
_PG_INSERT = (
    # The lock first (a one-time filter, before any row is numbered), held until commit.
    f"WITH locked AS MATERIALIZED (SELECT pg_advisory_xact_lock({PG_EVENTS_LOCK})) "
    f"INSERT INTO {events.name} ({_COLUMNS}) "
    "SELECT e.id, e.flow, e.namespace, v.type, v.status, v.node, v.node_seq, v.at "
    "FROM unnest(%s::text[], %s::text[], %s::text[], %s::int[], %s::float8[], %s::text[]) "
    "WITH ORDINALITY AS v(type, status, node, node_seq, at, id, n) "
    # LATERAL and OFFSET 0 (never merged into a join): an index lookup per event, whatever
    # the statistics say; a join read the whole table when they were stale.
    f"CROSS JOIN LATERAL (SELECT id, flow, namespace FROM {executions.name} x "
    "WHERE x.id = v.id OFFSET 0) e WHERE EXISTS (SELECT 1 FROM locked) ORDER BY v.n"
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
