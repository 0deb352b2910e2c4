"""Reading executions back whole: by id or unique prefix (``weir executions show``), the most
recent ones (``weir executions``), one node run with its payloads."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from weir.store.records import ExecutionRecord, NodeRunRecord
from weir.store.rows import execution_of, node_of
from weir.store.tables import executions, node_runs


class AmbiguousId(LookupError):
    pass


async def recent(
    connection: AsyncConnection, flow: str | None, status: str | None, limit: int
) -> list[ExecutionRecord]:
    query = select(executions).order_by(executions.c.started_at.desc()).limit(limit)
    if flow:
        query = query.where(executions.c.flow == flow)
    if status:
        query = query.where(executions.c.status == status)
    rows = (await connection.execute(query)).mappings().all()
    return [execution_of(row) for row in rows]


async def find(
    connection: AsyncConnection, execution_id: str, *, payloads: bool = True
) -> tuple[ExecutionRecord, list[NodeRunRecord]] | None:
    """By full id or unique prefix; AmbiguousId names some of the candidates. Without
    ``payloads`` the node runs come without their input and output (neither read nor decoded:
    a detail view loads them one node at a time)."""
    query = (
        select(executions).where(executions.c.id.startswith(execution_id, autoescape=True)).limit(6)
    )
    rows = (await connection.execute(query)).mappings().all()
    exact = [row for row in rows if row["id"] == execution_id]
    if exact:
        rows = exact
    if not rows:
        return None
    if len(rows) > 1:
        candidates = ", ".join(sorted(row["id"] for row in rows[:5]))
        raise AmbiguousId(f"execution id prefix {execution_id!r} is ambiguous: {candidates}")
    found = execution_of(rows[0])
    columns = node_runs.c if payloads else _WITHOUT_PAYLOADS
    query = select(*columns).where(node_runs.c.execution_id == found.id).order_by(node_runs.c.seq)
    return found, [node_of(row) for row in (await connection.execute(query)).mappings().all()]


_WITHOUT_PAYLOADS = [c for c in node_runs.c if c.name not in ("input", "output")]


async def node_run(
    connection: AsyncConnection, execution_id: str, seq: int
) -> NodeRunRecord | None:
    c = node_runs.c
    query = select(node_runs).where(c.execution_id == execution_id, c.seq == seq)
    row = (await connection.execute(query)).mappings().first()
    return None if row is None else node_of(row)
