"""The sql node against the machine's PostgreSQL and MariaDB, and SQLite in a file."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tests.runner.serving import free_port
from tests.servers.services import MARIADB, POSTGRES
from weir.engine.executor import Engine, TriggerEvent
from weir.flow.load import load_flows_text
from weir.lang.errors import (
    AuthFailed,
    ConfigError,
    ConnectionFailed,
    NodeError,
    NodeTimeout,
)
from weir.lang.expressions import json_default
from weir.nodes.context import NodeContext
from weir.nodes.resources import Resources
from weir.nodes.sql import SqlConfig, run
from weir.secrets.resolve import LocalSecretResolver

SERVERS = {"postgresql": POSTGRES, "mariadb": MARIADB}


@pytest.fixture(params=["postgresql", "mariadb", "sqlite"])
async def database(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[str, str]]:
    """A connection URL and a fresh table ``people(id, name, age)`` in it."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/test.db"
    else:
        SERVERS[request.param].require()
        url = SERVERS[request.param].url
    table = f"people_{uuid.uuid4().hex[:8]}"
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from weir.nodes.sql import driver_url

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
    database: tuple[str, str], make_ctx: Callable[..., NodeContext], resources: Resources
) -> None:
    url, table = database
    first, second = make_ctx(), make_ctx()
    await run(sql(connection=url, query=f"SELECT 1 AS one FROM {table} LIMIT 1"), first)
    (key,) = [k for k in resources._items if k[0] == "sql"]
    engine = resources._items[key]
    await run(sql(connection=url, query=f"SELECT 1 AS one FROM {table} LIMIT 1"), second)
    assert [k for k in resources._items if k[0] == "sql"] == [key]
    assert resources._items[key] is engine


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


PASSWORD = "r1ght p@ss/:%?"  # every character a URL would need escaped


@pytest.fixture
async def mariadb_user() -> AsyncIterator[str]:
    """A MariaDB user, password ``PASSWORD``, allowed to use the database ``test``."""
    MARIADB.require()
    url = MARIADB.url
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from weir.nodes.sql import driver_url

    user = f"weir_{uuid.uuid4().hex[:6]}"
    admin = create_async_engine(driver_url(url))
    async with admin.begin() as connection:
        await connection.execute(
            text(f"CREATE USER '{user}'@'%' IDENTIFIED BY :password"), {"password": PASSWORD}
        )
        await connection.execute(text(f"GRANT ALL ON test.* TO '{user}'@'%'"))
    yield user
    async with admin.begin() as connection:
        await connection.execute(text(f"DROP USER '{user}'@'%'"))
    await admin.dispose()


async def test_wrong_credentials_on_postgresql_are_auth_failed_without_the_password(
    make_ctx: Callable[..., NodeContext],
) -> None:
    # PostgreSQL here trusts local logins: an unknown role stands for wrong credentials.
    POSTGRES.require()
    wrong = POSTGRES.url_as(f"weir_{uuid.uuid4().hex[:6]}", "wrong-pass-9")
    with pytest.raises(AuthFailed) as caught:
        await run(sql(connection=wrong, query="SELECT 1"), make_ctx())
    assert "wrong-pass-9" not in caught.value.message and not caught.value.retryable


async def test_a_wrong_password_on_mariadb_is_auth_failed_without_the_password(
    mariadb_user: str, make_ctx: Callable[..., NodeContext]
) -> None:
    wrong = MARIADB.url_as(mariadb_user, "wrong-pass-9")
    with pytest.raises(AuthFailed) as caught:
        await run(sql(connection=wrong, query="SELECT 1"), make_ctx())
    assert "wrong-pass-9" not in caught.value.message and not caught.value.retryable
    assert mariadb_user in caught.value.message  # the database's own message
    ctx = make_ctx(secrets={("db", "password"): "wrong-pass-9"})
    with pytest.raises(AuthFailed) as caught:
        await run(
            sql(
                connection=MARIADB.url_as(mariadb_user).replace("mysql://", "mariadb://", 1),
                password={"secret": "db", "key": "password"},
                query="SELECT 1",
            ),
            ctx,
        )
    assert "wrong-pass-9" not in caught.value.message


async def test_a_password_from_a_secret_is_set_into_the_url_and_kept_out_of_the_pool_key(
    mariadb_user: str, make_ctx: Callable[..., NodeContext], resources: Resources
) -> None:
    ctx = make_ctx(secrets={("db", "password"): PASSWORD})
    out = await run(
        sql(
            connection=MARIADB.url_as(mariadb_user).replace("mysql://", "mariadb://", 1),
            password={"secret": "db", "key": "password"},
            query="SELECT CURRENT_USER() AS who, :n AS n",
            params={"n": 7},
        ),
        ctx,
    )
    assert out["rows"][0]["who"].startswith(f"{mariadb_user}@") and out["rows"][0]["n"] == 7
    keys = [k for k in resources._items if k[0] == "sql"]
    assert len(keys) == 1 and mariadb_user in repr(keys)
    assert "p@ss" not in repr(keys) and "r1ght" not in repr(keys)


async def test_deadlocks_and_serialization_failures_are_retryable(
    make_ctx: Callable[..., NodeContext],
) -> None:
    # The databases raise their real error codes: 40001 on PostgreSQL, 1213 on MariaDB.
    statements = {
        "postgresql": "DO $$ BEGIN RAISE EXCEPTION 'could not serialize access' "
        "USING ERRCODE = 'serialization_failure'; END $$",
        "mariadb": "SIGNAL SQLSTATE '40001' SET MYSQL_ERRNO = 1213, "
        "MESSAGE_TEXT = 'Deadlock found when trying to get lock'",
    }
    for server, statement in statements.items():
        SERVERS[server].require()
        url = SERVERS[server].url
        with pytest.raises(NodeError) as caught:
            await run(sql(connection=url, execute=statement), make_ctx())
        assert caught.value.type == "sql" and caught.value.retryable, server
    with pytest.raises(NodeError) as caught:  # a constraint violation is not retryable
        await run(sql(connection=POSTGRES.url, execute="SELECT 1 / 0 AS x"), make_ctx())
    assert caught.value.type == "sql" and not caught.value.retryable
    assert "division by zero" in caught.value.message


@pytest.mark.parametrize(
    ("server", "sleep"),
    [("postgresql", "SELECT pg_sleep(5)"), ("mariadb", "SELECT SLEEP(5)")],
)
async def test_a_statement_slower_than_the_timeout_is_a_node_timeout(
    server: str, sleep: str, make_ctx: Callable[..., NodeContext]
) -> None:
    SERVERS[server].require()
    url = SERVERS[server].url
    with pytest.raises(NodeTimeout) as caught:  # the 5 s statement would otherwise succeed
        await run(sql(connection=url, query=sleep, timeout="300ms"), make_ctx())
    assert caught.value.retryable
    again = await run(sql(connection=url, query="SELECT 2 AS two", timeout="5s"), make_ctx())
    assert again["rows"] == [{"two": 2}]  # the pool still serves


async def test_values_come_back_as_json_types(make_ctx: Callable[..., NodeContext]) -> None:
    POSTGRES.require()
    url = POSTGRES.url
    out = await run(
        sql(
            connection=url,
            query="SELECT 12.50::numeric AS price, 3::numeric AS whole, DATE '2024-02-29' AS day,"
            " TIMESTAMPTZ '2024-02-29 10:00:00+00' AS at,"
            " 'a8098c1a-f86e-11da-bd1a-00112444be1e'::uuid AS id, '\\x0102'::bytea AS raw,"
            " ARRAY[1.5::numeric, 2] AS list, '{\"a\": [1, null]}'::jsonb AS doc,"
            " INTERVAL '90 seconds' AS wait, NULL AS nothing",
        ),
        make_ctx(),
    )
    (row,) = out["rows"]
    assert row == {
        "price": 12.5,
        "whole": 3,
        "day": "2024-02-29",
        "at": "2024-02-29T10:00:00+00:00",
        "id": "a8098c1a-f86e-11da-bd1a-00112444be1e",
        "raw": b"\x01\x02",
        "list": [1.5, 2],
        "doc": {"a": [1, None]},
        "wait": 90.0,
        "nothing": None,
    }
    json.dumps(out, default=json_default)


async def test_insert_takes_only_the_named_columns(
    tmp_path: Path, make_ctx: Callable[..., NodeContext]
) -> None:
    url = f"sqlite:///{tmp_path}/columns.db"
    await run(
        sql(connection=url, execute='CREATE TABLE "order" (id INTEGER, "group" TEXT)'), make_ctx()
    )
    rows = [{"id": 1, "group": "a", "extra": "ignored"}, {"id": 2}]
    ctx = make_ctx(scope={"input": {"rows": rows}})
    insert = {"table": "order", "rows": "$.input.rows", "columns": ["id", "group"]}
    assert await run(sql(connection=url, insert=insert), ctx) == {"rowCount": 2}
    out = await run(sql(connection=url, query='SELECT * FROM "order" ORDER BY id'), make_ctx())
    assert out["rows"] == [{"id": 1, "group": "a"}, {"id": 2, "group": None}]
    with pytest.raises(ValidationError, match="is not a column name"):
        sql(connection=url, insert={**insert, "columns": ["id", "x) VALUES (1); --"]})
    with pytest.raises(ConfigError, match="is not a column name"):
        bad = make_ctx(scope={"input": {"rows": [{"id; DROP": 1}]}})
        await run(sql(connection=url, insert={"table": "order", "rows": "$.input.rows"}), bad)


async def test_oracle_urls_go_through_oracledb(make_ctx: Callable[..., NodeContext]) -> None:
    pytest.importorskip("oracledb")
    port = free_port()
    with pytest.raises(ConnectionFailed) as caught:
        await run(
            sql(
                connection=f"oracle://scott:tiger-pw@127.0.0.1:{port}/?service_name=XEPDB1",
                query="SELECT 1 FROM dual",
            ),
            make_ctx(),
        )
    assert "tiger-pw" not in caught.value.message


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


@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
async def test_decimals_come_back_exact(server: str, make_ctx: Callable[..., NodeContext]) -> None:
    """A number when a JSON number holds the value exactly, else text with every digit."""
    SERVERS[server].require()
    url = SERVERS[server].url
    table = f"money_{uuid.uuid4().hex[:8]}"
    await run(sql(connection=url, execute=f"CREATE TABLE {table} (v NUMERIC(20, 2))"), make_ctx())
    try:
        values = ["12345678901234567.89", "0.10", "12.50", "-3.00", "99999999999999.99"]
        ctx = make_ctx(scope={"input": {"rows": [{"v": v} for v in values]}})
        await run(sql(connection=url, insert={"table": table, "rows": "$.input.rows"}), ctx)
        out = await run(sql(connection=url, query=f"SELECT v FROM {table}"), make_ctx())
        got = [row["v"] for row in out["rows"]]
        assert got == ["12345678901234567.89", 0.1, 12.5, -3, "99999999999999.99"]
        # What came back goes back in unchanged.
        again = make_ctx(scope={"input": {"v": got[0]}})
        same = await run(
            sql(
                connection=url,
                query=f"SELECT count(*) AS n FROM {table} WHERE v = :v",
                params={"v": "$.input.v"},
            ),
            again,
        )
        assert same["rows"] == [{"n": 1}]
    finally:
        await run(sql(connection=url, execute=f"DROP TABLE {table}"), make_ctx())


async def test_an_inexact_average_and_special_decimals_are_text(
    make_ctx: Callable[..., NodeContext],
) -> None:
    POSTGRES.require()
    out = await run(
        sql(
            connection=POSTGRES.url,
            query="SELECT (1 + 2 + 4) / 3.0 AS average, 'NaN'::numeric AS nan,"
            " 123456789012345678901234567890::numeric AS big",
        ),
        make_ctx(),
    )
    (row,) = out["rows"]
    assert row == {
        "average": "2.3333333333333333",
        "nan": "NaN",
        "big": 123456789012345678901234567890,
    }
    json.dumps(out, default=json_default, allow_nan=False)
