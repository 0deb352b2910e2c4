"""Cancel requests for executions that run in a runner: the console records one, the runner
holding the execution asks for its own (long-polling the console) and clears each it handled.
Only a running execution is named: one that ended is no longer asked for."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from weir.store.records import Status
from weir.store.rows import placeholders
from weir.store.tables import cancellations, executions


async def holder(connection: AsyncConnection, execution_id: str) -> str | None:
    """The runner holding a running execution ('' if none is known); None if it is not
    running or not there."""
    c = executions.c
    query = select(c.status, c.runner).where(c.id == execution_id)
    row = (await connection.execute(query)).first()
    if row is None or row[0] != Status.RUNNING.value:
        return None
    return row[1] or ""


async def requested(connection: AsyncConnection, runner: str) -> list[str]:
    """The running executions of ``runner`` whose cancel was requested, oldest request first."""
    wanted = cancellations.c
    query = (
        select(wanted.execution_id)
        .join(executions, executions.c.id == wanted.execution_id)
        .where(wanted.runner == runner, executions.c.status == Status.RUNNING.value)
        .order_by(wanted.requested_at, wanted.execution_id)
    )
    return list((await connection.execute(query)).scalars())


def request_sql(dialect: str) -> str:
    """Values: execution id, runner, requested at; a second request keeps the first's time."""
    return (
        f"INSERT INTO {cancellations.name} (execution_id, runner, requested_at) "
        f"VALUES ({placeholders(dialect, 3)}) ON CONFLICT (execution_id) DO NOTHING"
    )


def clear_sql(dialect: str) -> str:
    return f"DELETE FROM {cancellations.name} WHERE execution_id = {placeholders(dialect, 1)}"
