"""Executions shipped by runners, taken into the console's store (``POST /api/v1/ingest``).

Idempotent: an execution is upserted by id and its node runs by ``(execution_id, seq)``, so a
batch sent twice changes nothing the second time and appends no event. A snapshot never takes
an execution back: a running one does not replace a finished one (a late retry of an old
batch), and ``interrupted`` (a sweep's guess that the runner died) does not replace a real
outcome, while a real outcome does replace it. The upsert's WHERE clause says the same in SQL,
so that a concurrent writer cannot be overwritten either.

What is there is read first (status and end time, node seqs: never payloads), then one
transaction writes what changed and the events for it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from weir.store import events
from weir.store.records import Status
from weir.store.rows import Encode, execution_row, node_row, snapshot
from weir.store.statements import Statements
from weir.store.tables import executions, node_runs
from weir.store.wire import Shipped

CHUNK = 500
"""Ids per lookup: well under the bound parameters either database takes in one statement."""

_RANK = {Status.RUNNING.value: 0, Status.INTERRUPTED.value: 1, Status.WAITING.value: 1}
"""How far an execution has come; any other status (an outcome) ranks 2."""


def rank(status: str) -> int:
    return _RANK.get(str(status), 2)


def guarded_upsert(sql: Statements) -> str:
    """Replace a row only with a snapshot that ranks as far or further."""
    names = [c.name for c in executions.columns if c.name != "id"]
    updates = ", ".join(f"{n} = excluded.{n}" for n in names)
    table = executions.name
    ranked = " ".join(f"WHEN '{status}' THEN {value}" for status, value in _RANK.items())
    return (
        f"{sql.insert_executions} DO UPDATE SET {updates} "
        f"WHERE (CASE excluded.status {ranked} ELSE 2 END) "
        f">= (CASE {table}.status {ranked} ELSE 2 END)"
    )


def insert_new_nodes(sql: Statements) -> str:
    """New node runs, and those stored ``waiting`` that a resume has since ended."""
    names = [c.name for c in node_runs.columns if c.name not in ("execution_id", "seq")]
    updates = ", ".join(f"{n} = excluded.{n}" for n in names)
    return (
        f"{sql.insert_nodes} ON CONFLICT (execution_id, seq) DO UPDATE SET {updates} "
        f"WHERE {node_runs.name}.status = '{Status.WAITING.value}'"
    )


@dataclass
class Stored:
    """What the store holds of the executions in a batch."""

    executions: dict[str, tuple[str, float | None]] = field(default_factory=dict)
    """Status and end time by id."""
    nodes: set[tuple[str, int]] = field(default_factory=set)
    waiting: set[tuple[str, int]] = field(default_factory=set)
    """Node runs stored ``waiting``: a resumed execution updates them."""


async def stored(connection: AsyncConnection, ids: Sequence[str]) -> Stored:
    found = Stored()
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        c, n = executions.c, node_runs.c
        rows = await connection.execute(
            select(c.id, c.status, c.finished_at).where(c.id.in_(chunk))
        )
        found.executions.update((row[0], (row[1], row[2])) for row in rows)
        rows = await connection.execute(
            select(n.execution_id, n.seq, n.status).where(n.execution_id.in_(chunk))
        )
        for row in rows:
            found.nodes.add((row[0], row[1]))
            if row[2] == Status.WAITING.value:
                found.waiting.add((row[0], row[1]))
    return found


@dataclass
class Changes:
    executions: list[tuple[Any, ...]] = field(default_factory=list)
    nodes: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    changed_ids: set[str] = field(default_factory=set)

    @property
    def changed(self) -> int:
        """Executions whose row or node runs changed."""
        return len(self.changed_ids)


def changes(items: Sequence[Shipped], have: Stored, encode: Encode, runner: str) -> Changes:
    """The rows to write and events to append for ``items``, given what the store has; an
    execution given twice counts as it would sent one after the other."""
    found = Changes()
    for record, nodes in items:
        before = have.executions.get(record.id)
        now = (str(record.status), record.finished_at)
        replace = before is None or (before != now and rank(now[0]) >= rank(before[0]))
        fresh = [n for n in nodes if _fresh(have, record.id, n)]
        if not replace and not fresh:
            continue
        found.changed_ids.add(record.id)
        if replace:
            have.executions[record.id] = now
            found.executions.append(execution_row(snapshot(record), encode, runner, ""))
        node_events = []
        for node in sorted(fresh, key=lambda n: n.seq):
            have.nodes.add((record.id, node.seq))
            if node.status != Status.WAITING:
                have.waiting.discard((record.id, node.seq))
            found.nodes.append(node_row(node, encode))
            node_events.append(
                events.node_event(record.id, node.status, node.node, node.seq, node.finished_at)
            )
        execution_event = [
            events.execution_event(record.id, record.status, record.started_at, record.finished_at)
        ]
        if not replace:
            execution_event = []
        # A running execution started before its nodes ran; an outcome came after them.
        if record.status == Status.RUNNING:
            found.events.extend(execution_event + node_events)
        else:
            found.events.extend(node_events + execution_event)
    return found


def _fresh(have: Stored, execution_id: str, node: Any) -> bool:
    key = (execution_id, node.seq)
    return key not in have.nodes or (key in have.waiting and node.status != Status.WAITING)


def statements(
    found: Changes, sql: Statements, dialect: str, runner_row: Callable[[], Any] | None
) -> list[tuple[str, Sequence[tuple[Any, ...]]]]:
    """What one transaction runs: the runner's row, the rows, the events."""
    written: list[tuple[str, Sequence[tuple[Any, ...]]]] = []
    if runner_row is not None:
        written.append(runner_row())
    if found.executions:
        written.append((guarded_upsert(sql), found.executions))
    if found.nodes:
        written.append((insert_new_nodes(sql), found.nodes))
    if found.events:
        written.append(events.appending(dialect, found.events))
    return written
