"""Stopping a statement on the database server when its node is cancelled.

Cancelling an asyncio task only abandons the client's await: the statement would run on in the
server (psycopg #543, SQLAlchemy #10717). A cancel (a user's, or the node's own ``timeout``)
therefore also stops it where it runs:

- PostgreSQL: psycopg (3.2 and later) sends the server a cancel request itself when the task
  awaiting a statement is cancelled, and waits for the statement to end before the connection
  goes back to the pool; nothing to add here.
- MySQL/MariaDB: aiomysql does not. ``KILL QUERY id`` is sent from a connection of its own.
- SQLite: the statement runs on aiosqlite's thread; ``interrupt()`` stops it there.

For the last two the statements run in a task of their own, shielded: SQLAlchemy, cancelled
inside a statement, waits for the connection to close gracefully before the cancel reaches
anyone, and on SQLite that close waits behind the endless statement itself. So the node's task
hears the cancel first, stops the statement on the server, and only then cancels the
statements' task: no further statement starts, the transaction is rolled back, and a
connection cut off mid-statement is discarded, never pooled.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from weir.secrets.redact import hide_password

log = logging.getLogger("weir.nodes.sql")

T = TypeVar("T")
STOP_WAIT = 2.0
"""Seconds to reach the server and stop a cancelled statement, and again for the statements'
task to end, before giving up on it."""


async def stopped_on_cancel(connection: Any, work: Coroutine[Any, Any, T]) -> T:
    """Await ``work``, statements on ``connection`` (a SQLAlchemy ``AsyncConnection``), so that
    a cancel of the caller also stops them on the server."""
    stop = await _stopper(connection)
    if stop is None:
        return await work
    statements = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(statements)
    except asyncio.CancelledError:
        try:
            await stop()
        except Exception as exc:  # the cancel stands whatever happens here
            # It ended meanwhile, or the server cannot be reached: say so, since the statement
            # may still be running there.
            shown = hide_password(str(exc)).splitlines()[0] if str(exc) else type(exc).__name__
            log.warning("could not stop the cancelled statement on the server: %s", shown)
        statements.cancel()
        await asyncio.wait({statements}, timeout=STOP_WAIT)
        raise
    finally:
        if not statements.done():
            statements.cancel()  # cancelled again while stopping: let it go
        elif not statements.cancelled():
            statements.exception()  # read: after a cancel, its error is the cancel's doing


async def _stopper(connection: Any) -> Callable[[], Awaitable[None]] | None:
    """What stops the statement running on ``connection``; None where the driver does so by
    itself (PostgreSQL) or where nothing can (Oracle, untested)."""
    backend = connection.engine.dialect.name
    if backend not in ("mysql", "sqlite"):
        return None
    driver = (await connection.get_raw_connection()).driver_connection
    if backend == "sqlite":
        interrupt: Callable[[], Awaitable[None]] = driver.interrupt  # thread-safe
        return interrupt
    return functools.partial(_kill_query, connection.engine.url, int(driver.thread_id()))


async def _kill_query(url: Any, server_id: int) -> None:
    """Stop the statement of MySQL/MariaDB connection ``server_id`` from a new connection (not
    one of the pool's, which may all be busy), giving up after ``STOP_WAIT`` seconds."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    side = create_async_engine(url, poolclass=NullPool)
    try:
        async with asyncio.timeout(STOP_WAIT), side.connect() as control:
            await control.execute(text(f"KILL QUERY {server_id}"))
    finally:
        await side.dispose()
