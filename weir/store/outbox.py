"""The runner's store as its outbox: what changed since a target's cursor (an event number in
``weir_shipping``), as whole executions to ship, and how much waits.

Shipping the execution as it stands now, not each change, keeps a batch small and makes a
resend harmless: the console upserts by id (weir.store.ingest). An execution changed again
after it was read is shipped again with its later event.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from weir.store.ingest import CHUNK
from weir.store.rows import execution_of, node_of, placeholders
from weir.store.tables import events, executions, node_runs, shipping
from weir.store.wire import Shipped

TARGET_LIMIT = 512
"""The length of ``weir_shipping.target``."""
EVENTS_READ = 1000
"""Events read at a time while gathering a batch."""


async def cursor(connection: AsyncConnection, target: str) -> int:
    found = await connection.execute(select(shipping.c.seq).where(shipping.c.target == target))
    return int(found.scalar() or 0)


async def pending(
    connection: AsyncConnection, target: str, limit: int
) -> tuple[list[Shipped], int]:
    """Up to ``limit`` executions touched by events after the target's cursor, in the order of
    their first such event, and the number of the last event they cover."""
    if limit < 1:
        raise ValueError(f"limit: {limit}; at least 1")
    position = covered = await cursor(connection, target)
    ids: dict[str, None] = {}
    while len(ids) <= limit:
        rows = (
            await connection.execute(
                select(events.c.seq, events.c.execution_id)
                .where(events.c.seq > position)
                .order_by(events.c.seq)
                .limit(EVENTS_READ)
            )
        ).all()
        for seq, execution_id in rows:
            if execution_id not in ids and len(ids) == limit:
                return await whole(connection, list(ids)), covered
            ids[execution_id] = None
            covered = seq
        if len(rows) < EVENTS_READ:
            break
        position = rows[-1][0]
    return await whole(connection, list(ids)), covered


async def whole(connection: AsyncConnection, ids: Sequence[str]) -> list[Shipped]:
    """The executions with all their node runs, in the order of ``ids``; those gone (pruned)
    are left out."""
    found: dict[str, Shipped] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        rows = await connection.execute(select(executions).where(executions.c.id.in_(chunk)))
        for row in rows.mappings():
            found[row["id"]] = (execution_of(row), [])
        query = (
            select(node_runs)
            .where(node_runs.c.execution_id.in_(chunk))
            .order_by(node_runs.c.execution_id, node_runs.c.seq)
        )
        for row in (await connection.execute(query)).mappings():
            if (shipped := found.get(row["execution_id"])) is not None:
                shipped[1].append(node_of(row))
    return [found[id] for id in ids if id in found]


async def backlog(connection: AsyncConnection, target: str) -> int:
    """Events after the target's cursor: changes not shipped yet."""
    after = await cursor(connection, target)
    query = select(func.count()).select_from(events).where(events.c.seq > after)
    return int((await connection.execute(query)).scalar() or 0)


def mark(dialect: str, target: str, seq: int) -> tuple[str, list[tuple[str, int]]]:
    """The statement moving a target's cursor to ``seq``: forward, never back."""
    if not 0 < len(target) <= TARGET_LIMIT:
        raise ValueError(f"target: {target[:40]!r}…; 1 to {TARGET_LIMIT} characters")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise ValueError(f"seq: {seq!r}; an event number")
    return (
        f"INSERT INTO {shipping.name} (target, seq) VALUES ({placeholders(dialect, 2)}) "
        f"ON CONFLICT (target) DO UPDATE SET seq = excluded.seq "
        f"WHERE excluded.seq > {shipping.name}.seq",
        [(target, seq)],
    )
