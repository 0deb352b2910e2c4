"""The sql node's timeout and cancel stop the statement on the server, not only the wait for it:
PostgreSQL gets the timeout as the transaction's statement_timeout, a MariaDB statement past
its node's timeout is stopped there, and a cancelled insert commits nothing."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.servers.services import MARIADB, POSTGRES
from weir.lang.errors import NodeTimeout
from weir.nodes.context import NodeContext
from weir.nodes.sql import SqlConfig, driver_url, run


def sql(**fields: Any) -> SqlConfig:
    return SqlConfig.model_validate(fields)


async def test_the_timeout_is_the_statement_timeout_of_that_transaction_only(
    make_ctx: Callable[..., NodeContext],
) -> None:
    POSTGRES.require()
    show = "SELECT current_setting('statement_timeout') AS limit"
    timed = await run(sql(connection=POSTGRES.url, query=show, timeout="2500ms"), make_ctx())
    assert timed["rows"] == [{"limit": "2500ms"}]
    written = await run(sql(connection=POSTGRES.url, execute="SELECT 1", timeout="3s"), make_ctx())
    assert written == {"rowCount": 1}
    # The same pool's next connection without a timeout has the server's default again.
    for _ in range(6):  # more than the pool holds, so every pooled connection is seen
        plain = await run(sql(connection=POSTGRES.url, query=show), make_ctx())
        assert plain["rows"] == [{"limit": "0"}]


async def test_a_postgresql_statement_past_its_timeout_is_a_node_timeout(
    make_ctx: Callable[..., NodeContext],
) -> None:
    POSTGRES.require()
    begun = time.monotonic()
    with pytest.raises(NodeTimeout, match="within 1s"):
        await run(
            sql(connection=POSTGRES.url, query="SELECT pg_sleep(5)", timeout="1s"), make_ctx()
        )
    assert time.monotonic() - begun < 2


async def running_on_mariadb(pattern: str) -> int:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(driver_url(MARIADB.url))
    try:
        async with engine.connect() as connection:
            found = await connection.execute(
                text(
                    "SELECT count(*) FROM information_schema.processlist "
                    "WHERE info LIKE :pattern AND id <> CONNECTION_ID()"
                ),
                {"pattern": f"%{pattern}%"},
            )
            return int(found.scalar_one())
    finally:
        await engine.dispose()


async def test_a_mariadb_statement_past_its_timeout_is_stopped_on_the_server(
    make_ctx: Callable[..., NodeContext],
) -> None:
    MARIADB.require()
    marker = f"timeout_{uuid.uuid4().hex[:12]}"
    query = f"SELECT SLEEP(30) AS {marker}"
    with pytest.raises(NodeTimeout):
        await run(sql(connection=MARIADB.url, query=query, timeout="500ms"), make_ctx())
    stopped = time.monotonic()
    while await running_on_mariadb(query):
        assert time.monotonic() - stopped < 1, "the statement still runs on the server"
        await asyncio.sleep(0.02)


@pytest.fixture
async def mariadb_table() -> AsyncIterator[str]:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    MARIADB.require()
    table = f"cancelled_{uuid.uuid4().hex[:8]}"
    engine = create_async_engine(driver_url(MARIADB.url))
    async with engine.begin() as connection:
        await connection.execute(text(f"CREATE TABLE {table} (id INTEGER, pause DOUBLE)"))
    yield table
    async with engine.begin() as connection:
        await connection.execute(text(f"DROP TABLE {table}"))
    await engine.dispose()


async def test_a_cancelled_insert_commits_nothing(
    mariadb_table: str, make_ctx: Callable[..., NodeContext]
) -> None:
    """Rows whose insert takes a while (a trigger sleeps per row), cancelled in the middle:
    the running batch stops on the server at once, and nothing is committed."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(driver_url(MARIADB.url))
    async with engine.begin() as connection:
        await connection.execute(
            text(
                f"CREATE TRIGGER {mariadb_table}_slow BEFORE INSERT ON {mariadb_table} "
                "FOR EACH ROW SET NEW.pause = SLEEP(0.01)"
            )
        )
    rows = [{"id": i} for i in range(3000)]  # three batches, about 10 s each
    ctx = make_ctx(scope={"input": {"rows": rows}})
    node = sql(connection=MARIADB.url, insert={"table": mariadb_table, "rows": "$.input.rows"})
    inserting = asyncio.create_task(run(node, ctx))
    await asyncio.sleep(1.0)
    asked = time.monotonic()
    inserting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await inserting
    assert time.monotonic() - asked < 1
    while await running_on_mariadb(f"INSERT INTO %{mariadb_table}"):
        assert time.monotonic() - asked < 1, "the insert still runs on the server"
        await asyncio.sleep(0.02)
    async with engine.connect() as connection:
        count = await connection.execute(text(f"SELECT count(*) FROM {mariadb_table}"))
        assert count.scalar_one() == 0
    await engine.dispose()


async def test_an_endless_sqlite_query_ends_at_its_timeout(
    tmp_path: Path, make_ctx: Callable[..., NodeContext]
) -> None:
    """Without the interrupt, SQLAlchemy's close of the timed-out connection would wait behind
    the statement on aiosqlite's thread forever."""
    url = f"sqlite:///{tmp_path}/endless.db"
    endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) AS n FROM c"
    begun = time.monotonic()
    with pytest.raises(NodeTimeout):
        await asyncio.wait_for(
            run(sql(connection=url, query=endless, timeout="300ms"), make_ctx()), 5
        )
    assert time.monotonic() - begun < 1.3
    again = await run(sql(connection=url, query="SELECT 2 AS two", timeout="1s"), make_ctx())
    assert again["rows"] == [{"two": 2}]
