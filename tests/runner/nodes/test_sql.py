"""The sql node against the machine's PostgreSQL and MariaDB, and SQLite in a file."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tests.conftest import require_service
from tests.runner.serving import free_port
from weir.flow.load import load_flows_text
from weir.runner.context import NodeContext
from weir.runner.engine import Engine, TriggerEvent
from weir.runner.errors import AuthFailed, ConfigError, ConnectionFailed, NodeError
from weir.runner.nodes.sql import SqlConfig, run
from weir.runner.secrets import LocalSecretResolver

SERVERS = {
    "postgresql": ("postgresql://postgres@127.0.0.1:5432/test", 5432),
    "mariadb": ("mysql://root@127.0.0.1:3306/test", 3306),
}


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(params=["postgresql", "mariadb", "sqlite"])
async def database(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[str, str]]:
    """A connection URL and a fresh table ``people(id, name, age)`` in it."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/test.db"
    else:
        url, port = SERVERS[request.param]
        require_service(_listening(port), f"{request.param} on 127.0.0.1:{port}")
    table = f"people_{uuid.uuid4().hex[:8]}"
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from weir.runner.nodes.sql import driver_url

    engine = create_async_engine(driver_url(url))
    async with engine.begin() as connection:
        await connection.execute(
            text(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, name VARCHAR(200), age INTEGER)")
        )
        await connection.execute(
            text(f"INSERT INTO {table} VALUES (1, 'Ada', 36), (2, 'Linus', 54), (3, 'Grace', 85)")
        )
    yield url, table
    async with engine.begin() as connection:
        await connection.execute(text(f"DROP TABLE {table}"))
    await engine.dispose()


def sql(**fields: Any) -> SqlConfig:
    return SqlConfig.model_validate(fields)


async def test_a_query_returns_rows_as_objects_with_bound_params(
    database: tuple[str, str], make_ctx: Callable[..., NodeContext]
) -> None:
    url, table = database
    ctx = make_ctx(scope={"input": {"min": 40}})
    out = await run(
        sql(
            connection=url,
            query=f"SELECT id, name FROM {table} WHERE age > :min ORDER BY id",
            params={"min": "$.input.min"},
        ),
        ctx,
    )
    assert out == {"rows": [{"id": 2, "name": "Linus"}, {"id": 3, "name": "Grace"}], "count": 2}


async def test_execute_returns_the_row_count(
    database: tuple[str, str], make_ctx: Callable[..., NodeContext]
) -> None:
    url, table = database
    out = await run(
        sql(
            connection=url,
            execute=f"UPDATE {table} SET age = age + 1 WHERE age < :age",
            params={"age": 60},
        ),
        make_ctx(),
    )
    assert out == {"rowCount": 2}


async def test_a_batch_insert_writes_every_row_and_stores_hostile_text_literally(
    database: tuple[str, str], make_ctx: Callable[..., NodeContext]
) -> None:
    url, table = database
    hostile = "x'); DROP TABLE " + table + "; --"
    rows = [
        {"id": 100 + i, "name": hostile if i == 0 else f"n{i}", "age": i % 90} for i in range(2500)
    ]
    ctx = make_ctx(scope={"input": {"rows": rows}})
    out = await run(sql(connection=url, insert={"table": table, "rows": "$.input.rows"}), ctx)
    assert out == {"rowCount": 2500}
    counted = await run(sql(connection=url, query=f"SELECT COUNT(*) AS n FROM {table}"), make_ctx())
    assert counted["rows"][0]["n"] == 2503
    stored = await run(
        sql(connection=url, query=f"SELECT name FROM {table} WHERE id = 100"), make_ctx()
    )
    assert stored["rows"] == [{"name": hostile}]


async def test_one_pool_per_url_is_shared_by_runs(
    database: tuple[str, str], make_ctx: Callable[..., NodeContext]
) -> None:
    url, table = database
    first, second = make_ctx(), make_ctx()
    await run(sql(connection=url, query=f"SELECT 1 AS one FROM {table} LIMIT 1"), first)
    await run(sql(connection=url, query=f"SELECT 1 AS one FROM {table} LIMIT 1"), second)
    engines = [v for k, v in first.resources._items.items() if k[0] == "sql"]
    assert len(engines) == 1


async def test_bad_sql_is_a_non_retryable_error_with_the_database_message(
    database: tuple[str, str], make_ctx: Callable[..., NodeContext]
) -> None:
    url, _ = database
    with pytest.raises(NodeError) as caught:
        await run(sql(connection=url, query="SELECT * FROM no_such_table_here"), make_ctx())
    assert caught.value.type == "sql" and not caught.value.retryable
    assert "no_such_table_here" in caught.value.message


async def test_a_refused_port_is_a_retryable_connection_failure(
    make_ctx: Callable[..., NodeContext],
) -> None:
    port = free_port()
    for url in (f"postgresql://u:pw@127.0.0.1:{port}/x", f"mysql://u:pw@127.0.0.1:{port}/x"):
        with pytest.raises(ConnectionFailed) as caught:
            await run(sql(connection=url, query="SELECT 1"), make_ctx())
        assert caught.value.retryable and ":pw@" not in caught.value.message


@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
async def test_wrong_credentials_are_auth_failed_without_the_password(
    server: str, make_ctx: Callable[..., NodeContext]
) -> None:
    # PostgreSQL here trusts local logins, so an unknown role stands for wrong credentials;
    # MariaDB gets a real user with another password.
    url, port = SERVERS[server]
    require_service(_listening(port), f"{server} on 127.0.0.1:{port}")
    user = f"weir_{uuid.uuid4().hex[:6]}"
    if server == "postgresql":
        wrong = f"postgresql://{user}:wrong-pass-9@127.0.0.1:5432/test"
        with pytest.raises(AuthFailed) as caught:
            await run(sql(connection=wrong, query="SELECT 1"), make_ctx())
        assert "wrong-pass-9" not in caught.value.message and not caught.value.retryable
        return
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from weir.runner.nodes.sql import driver_url

    admin = create_async_engine(driver_url(url))
    async with admin.begin() as connection:
        await connection.execute(text(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'right-pass-1'"))
    try:
        wrong = f"mysql://{user}:wrong-pass-9@127.0.0.1:3306/test"
        with pytest.raises(AuthFailed) as caught:
            await run(sql(connection=wrong, query="SELECT 1"), make_ctx())
        assert "wrong-pass-9" not in caught.value.message and not caught.value.retryable
    finally:
        async with admin.begin() as connection:
            await connection.execute(text(f"DROP USER '{user}'@'%'"))
        await admin.dispose()


def test_templates_in_sql_text_are_refused_when_the_flow_is_loaded() -> None:
    with pytest.raises(ValidationError, match="not a template: pass values as :name placeholders"):
        sql(connection="sqlite:///x.db", query="SELECT * FROM t WHERE id = ${input.id}")
    with pytest.raises(ValidationError, match=r"exactly one operation \(query, execute, insert\)"):
        sql(connection="sqlite:///x.db", query="SELECT 1", execute="DELETE FROM t")
    with pytest.raises(ValidationError, match="is not a table name"):
        sql(connection="sqlite:///x.db", insert={"table": "t; DROP", "rows": []})


async def test_an_unknown_scheme_is_a_config_error_with_the_password_hidden(
    make_ctx: Callable[..., NodeContext],
) -> None:
    with pytest.raises(ConfigError, match=r"mssql://sa:\*\*\*@db"):
        await run(sql(connection="mssql://sa:secret@db/x", query="SELECT 1"), make_ctx())


async def test_a_flow_queries_then_inserts_through_the_engine(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/flow.db"
    (flow,) = load_flows_text(
        """
apiVersion: weir.dev/v1alpha1
kind: Flow
metadata: {name: copy}
spec:
  secrets: [{name: db}]
  trigger: {manual: {}}
  nodes:
    - name: create
      sql: {connection: {secret: db, key: url}, execute: "CREATE TABLE t (id INTEGER, name TEXT)"}
      next: fill
    - name: fill
      sql: {connection: {secret: db, key: url}, insert: {table: t, rows: $.input.rows}}
      next: read
    - name: read
      sql: {connection: {secret: db, key: url}, query: "SELECT name FROM t WHERE id >= :id ORDER BY id", params: {id: 2}}
  result: $.nodes.read.rows[*].name
"""
    )
    engine = Engine(secrets=LocalSecretResolver(environ={"WEIR_SECRET_DB_URL": url}))
    result = await engine.execute(
        flow,
        TriggerEvent(
            payload={
                "rows": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "name": "c"}]
            }
        ),
    )
    await engine.aclose()
    assert result.ok, result.error
    assert result.result == ["b", "c"]
