"""The writes of durable executions that ride in the batch writer's transactions, so that each
lands together with the records it belongs to (weir.store.sql queues them):

* ``Parked``: the waiting node run and its wait, in one transaction — never one without the
  other. The wait is an upsert: a child flow may have resolved it first (``Resolved``).
* ``Resumed``: the parked node run updated in place (same seq) with how it ended, and its wait
  marked done (``resumed`` or ``timed_out``) if this runner still holds its claim (the fence).
* ``Closed``: an execution that ended with waits still open (it failed or was cancelled on
  another branch) closes them, and its waiting node runs become ``cancelled``.
* ``Resolved``: a wait resolved in the same transaction as what resolved it (a child's final
  record); an upsert, so that a child finishing before its parent parked is not lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from weir.store.encode import to_json
from weir.store.records import NodeRunRecord, Status
from weir.store.rows import NODE_COLUMNS, node_row, placeholders
from weir.store.tables import node_runs, waits

if TYPE_CHECKING:  # weir.nodes loads every node kind: `weir executions` needs none
    from weir.nodes.suspend import WaitRequest

Encode = Callable[[Any], str | None]
Statement = tuple[str, list[tuple[Any, ...]]]

PENDING, RESOLVED, CLAIMED = "pending", "resolved", "claimed"
RESUMED, TIMED_OUT, CANCELLED = "resumed", "timed_out", "cancelled"
OPEN = (PENDING, RESOLVED)
"""States of a wait nobody has resumed yet."""


@dataclass(frozen=True, slots=True)
class Parked:
    record: NodeRunRecord
    wait: WaitRequest
    at: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class Resumed:
    record: NodeRunRecord
    wait_id: str
    fence: int
    ending: str
    """RESUMED or TIMED_OUT."""


@dataclass(frozen=True, slots=True)
class Closed:
    execution_id: str
    at: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class Resolved:
    wait_id: str
    execution_id: str
    node: str
    result: dict[str, Any]
    by: str
    at: float = field(default_factory=time.time)


WaitWrite = Parked | Resumed | Closed | Resolved


class WaitRecorder(Protocol):
    """A store that keeps waits (the SQL store): the engine queues these writes into it."""

    def record_wait(self, write: WaitWrite) -> None: ...


def recorder_of(store: object) -> WaitRecorder | None:
    """The store as a WaitRecorder, or None when it keeps no waits (or there is none)."""
    return store if hasattr(store, "record_wait") else None


def statements(items: Sequence[WaitWrite], encode: Encode, dialect: str) -> list[Statement]:
    """The statements for ``items``, in an order that lets one batch park, resolve, resume and
    close the same wait: parks first, closes last. Node rows of Parked are not among them:
    the caller inserts them with the other node runs, before these."""
    m = "?" if dialect == "sqlite" else "%s"
    parked = [_parked_row(item) for item in items if isinstance(item, Parked)]
    resolved = [
        (i.wait_id, i.execution_id, i.node, to_json(i.result), i.by, i.at, i.at)
        for i in items
        if isinstance(i, Resolved)
    ]
    resumed = [i for i in items if isinstance(i, Resumed)]
    closed = [(i.execution_id,) for i in items if isinstance(i, Closed)]
    found: list[Statement] = []
    if parked:
        found.append((_park_sql(dialect), parked))
    if resolved:
        found.append((_resolve_sql(dialect), resolved))
    if resumed:
        found.append((_upsert_node_sql(dialect), [node_row(i.record, encode) for i in resumed]))
        found.append(
            (
                f"UPDATE {waits.name} SET state = {m}, updated_at = {m} "
                f"WHERE id = {m} AND state = '{CLAIMED}' AND fence = {m}",
                [(i.ending, time.time(), i.wait_id, i.fence) for i in resumed],
            )
        )
    if closed:
        at = time.time()
        found.append(
            (
                f"UPDATE {waits.name} SET state = '{CANCELLED}', updated_at = {at!r} "
                f"WHERE execution_id = {m} AND state IN ('{PENDING}', '{RESOLVED}')",
                closed,
            )
        )
        found.append(
            (
                f"UPDATE {node_runs.name} SET status = '{Status.CANCELLED.value}' "
                f"WHERE execution_id = {m} AND status = '{Status.WAITING.value}'",
                closed,
            )
        )
    return found


_WAIT_COLUMNS = (
    "id, execution_id, node, seq, kind, state, due_at, details, token_hash, schema, "
    "created_at, updated_at"
)


def _parked_row(item: Parked) -> tuple[Any, ...]:
    wait, record = item.wait, item.record
    return (
        wait.id,
        record.execution_id,
        record.node,
        record.seq,
        wait.kind,
        PENDING,
        wait.due_at,
        to_json(wait.details),
        wait.token_hash,
        None if wait.schema is None else to_json(wait.schema),
        item.at,
        item.at,
    )


def _park_sql(dialect: str) -> str:
    """Insert the wait; one a child resolved already keeps its state and result."""
    keep = ("state", "result", "resolved_by", "created_at")
    names = [name.strip() for name in _WAIT_COLUMNS.split(",")]
    update = ", ".join(f"{n} = excluded.{n}" for n in names if n != "id" and n not in keep)
    return (
        f"INSERT INTO {waits.name} ({_WAIT_COLUMNS}) VALUES ({placeholders(dialect, 12)}) "
        f"ON CONFLICT (id) DO UPDATE SET {update}"
    )


def _resolve_sql(dialect: str) -> str:
    """Resolve a pending wait, or create it resolved (its parent has not parked yet: seq 0 and
    kind ``child`` until the park fills them in)."""
    return (
        f"INSERT INTO {waits.name} (id, execution_id, node, seq, kind, state, result, "
        f"resolved_by, created_at, updated_at) VALUES ({placeholders(dialect, 3)}, 0, 'child', "
        f"'{RESOLVED}', {placeholders(dialect, 4)}) ON CONFLICT (id) DO UPDATE SET "
        f"state = '{RESOLVED}', result = excluded.result, resolved_by = excluded.resolved_by, "
        f"updated_at = excluded.updated_at WHERE {waits.name}.state = '{PENDING}'"
    )


def _upsert_node_sql(dialect: str) -> str:
    names = ", ".join(NODE_COLUMNS)
    keys = ("execution_id", "seq")
    update = ", ".join(f"{n} = excluded.{n}" for n in NODE_COLUMNS if n not in keys)
    return (
        f"INSERT INTO {node_runs.name} ({names}) "
        f"VALUES ({placeholders(dialect, len(NODE_COLUMNS))}) "
        f"ON CONFLICT (execution_id, seq) DO UPDATE SET {update}"
    )
