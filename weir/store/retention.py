"""Pruning: executions past an age or beyond a count per flow are deleted in batches of ids,
never reading a payload, never one still running or waiting, and (``keep_unshipped``) never
one whose changes were not shipped to that target yet. Each batch is one short transaction.

Events are a log: those older than every execution kept go too (by number, from the oldest),
except those not yet shipped.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import ColumnElement, and_, func, literal, not_, select, tuple_

from weir.store.outbox import cursor
from weir.store.records import Status
from weir.store.rows import placeholders
from weir.store.tables import cancellations, events, executions, node_runs, waits

BATCH = 1000
"""Executions (or events) deleted per transaction."""

Write = Callable[[list[tuple[str, list[tuple[Any, ...]]]]], Awaitable[None]]
Read = Callable[[], Any]


class Pruning:
    def __init__(self, dialect: str, read: Read, write: Write) -> None:
        self.dialect = dialect
        self.read = read
        """Opens a reading connection (an async context manager)."""
        self.write = write
        """Runs statements in one transaction (the store's batch writer)."""

    async def prune(
        self, *, max_age: float | None, max_per_flow: int | None, keep_unshipped: str | None
    ) -> int:
        if max_age is not None and (isinstance(max_age, bool) or not max_age >= 0):
            raise ValueError(f"max_age: {max_age!r}; seconds, 0 or more")
        if max_per_flow is not None and (
            isinstance(max_per_flow, bool) or not isinstance(max_per_flow, int) or max_per_flow < 0
        ):
            raise ValueError(f"max_per_flow: {max_per_flow!r}; a count, 0 or more")
        async with self.read() as connection:
            shipped = None if keep_unshipped is None else await cursor(connection, keep_unshipped)
        deletable = _deletable(shipped)
        deleted = 0
        c = executions.c
        if max_age is not None:
            deleted += await self._delete_where(
                and_(deletable, c.started_at < time.time() - max_age)
            )
        if max_per_flow is not None:
            async with self.read() as connection:
                flows = (await connection.execute(select(c.namespace, c.flow).distinct())).all()
            for namespace, flow in flows:
                deleted += await self._cap(namespace, flow, max_per_flow, deletable)
        await self._trim_events(shipped)
        return deleted

    async def _cap(
        self, namespace: str, flow: str, keep: int, deletable: ColumnElement[bool]
    ) -> int:
        c = executions.c
        same = and_(c.namespace == namespace, c.flow == flow)
        newest_first = (c.started_at.desc(), c.id.desc())
        query = select(c.started_at, c.id).where(same).order_by(*newest_first).offset(keep).limit(1)
        async with self.read() as connection:
            first_beyond = (await connection.execute(query)).first()
        if first_beyond is None:
            return 0
        at_or_below = tuple_(c.started_at, c.id) <= tuple_(
            literal(first_beyond[0]), literal(first_beyond[1])
        )
        return await self._delete_where(and_(same, deletable, at_or_below))

    async def _delete_where(self, condition: ColumnElement[bool]) -> int:
        """Oldest first, each batch read after the last one's position: rows the condition
        leaves (another namespace's, one running) are passed once, not once per batch."""
        c = executions.c
        deleted = 0
        position: Any = None
        while True:
            query = select(c.started_at, c.id).where(condition)
            if position is not None:
                after = tuple_(literal(position[0]), literal(position[1]))
                query = query.where(tuple_(c.started_at, c.id) > after)
            query = query.order_by(c.started_at, c.id).limit(BATCH)
            async with self.read() as connection:
                rows = (await connection.execute(query)).all()
            if not rows:
                return deleted
            await self.write(self._deleting([row[1] for row in rows]))
            deleted += len(rows)
            position = rows[-1]

    def _deleting(self, ids: list[str]) -> list[tuple[str, list[tuple[Any, ...]]]]:
        marks = placeholders(self.dialect, len(ids))
        # Re-checked in the transaction: an execution marked running (or waiting) again is kept.
        running = placeholders(self.dialect, 2)
        return [
            (
                f"DELETE FROM {executions.name} WHERE id IN ({marks}) AND status NOT IN ({running})",
                [(*ids, *_UNFINISHED)],
            ),
            (
                f"DELETE FROM {node_runs.name} WHERE execution_id IN ({marks}) AND "
                f"execution_id NOT IN (SELECT id FROM {executions.name} WHERE id IN ({marks}))",
                [(*ids, *ids)],
            ),
            (
                f"DELETE FROM {cancellations.name} WHERE execution_id IN ({marks})",
                [tuple(ids)],
            ),
            (
                f"DELETE FROM {waits.name} WHERE execution_id IN ({marks}) AND "
                f"execution_id NOT IN (SELECT id FROM {executions.name} WHERE id IN ({marks}))",
                [(*ids, *ids)],
            ),
        ]

    async def _trim_events(self, shipped: int | None) -> None:
        """Delete events older than the oldest execution kept, from the oldest event on."""
        seq = events.c.seq
        async with self.read() as connection:
            first, last = (await connection.execute(select(func.min(seq), func.max(seq)))).one()
            if first is None:
                return
            oldest = (await connection.execute(select(func.min(executions.c.started_at)))).scalar()
            end = None
            if oldest is not None:  # the first event that may be of an execution kept
                query = select(seq).where(events.c.at >= oldest).order_by(seq).limit(1)
                end = (await connection.execute(query)).scalar()
        end = last + 1 if end is None else end
        if shipped is not None:
            end = min(end, shipped + 1)
        mark = placeholders(self.dialect, 1)
        statement = f"DELETE FROM {events.name} WHERE seq >= {mark} AND seq < {mark}"
        for start in range(first, end, BATCH):
            await self.write([(statement, [(start, min(start + BATCH, end))])])


_UNFINISHED = (Status.RUNNING.value, Status.WAITING.value)


def _deletable(shipped: int | None) -> ColumnElement[bool]:
    finished = executions.c.status.not_in(_UNFINISHED)  # a parked one is not finished
    if shipped is None:
        return finished
    unshipped = select(events.c.execution_id).where(events.c.seq > shipped)
    return and_(finished, not_(executions.c.id.in_(unshipped)))
