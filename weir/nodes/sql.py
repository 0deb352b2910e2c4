"""`sql`: a query, a statement or a batch insert on PostgreSQL, MySQL/MariaDB, SQLite or Oracle.

The SQL text is a constant: values only ever travel as bound parameters (``:name``), so data
cannot change what a statement does. One SQLAlchemy async engine (a connection pool) per
connection URL is shared by every execution of the runner.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
import uuid
from decimal import Decimal
from typing import Any

from pydantic import Field, field_validator, model_validator

from weir.lang.durations import Duration
from weir.lang.errors import AuthFailed, ConfigError, ConnectionFailed, NodeError, NodeTimeout
from weir.lang.expressions import Value
from weir.lang.types import IDENTIFIER, SecretOrText, Strict
from weir.nodes.connections import service_url
from weir.nodes.context import NodeContext
from weir.nodes.kind import NodeKind
from weir.nodes.operations import chosen_operation
from weir.nodes.sql_cancel import stopped_on_cancel
from weir.secrets.redact import hide_password

DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+aiomysql",
    "mariadb": "mysql+aiomysql",
    "sqlite": "sqlite+aiosqlite",
    "oracle": "oracle+oracledb",
}
EXTRAS = {"oracle": "oracle"}
INSERT_BATCH = 1000


class InsertOp(Strict):
    table: str = Field(description="Table name, optionally schema.table.")
    rows: Value = Field(description="A list of objects, e.g. $.nodes.contacts.")
    columns: list[str] | None = Field(
        None, description="Columns to insert; the keys of the first row if unset."
    )

    @field_validator("table")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not all(re.fullmatch(IDENTIFIER, part) for part in value.split(".")):
            raise ValueError(f"{value!r} is not a table name (letters, digits, _; schema.table)")
        return value

    @field_validator("columns")
    @classmethod
    def _column_names(cls, value: list[str] | None) -> list[str] | None:
        for name in value or ():
            if not re.fullmatch(IDENTIFIER, name):
                raise ValueError(f"{name!r} is not a column name (letters, digits, _)")
        if value is not None and not value:
            raise ValueError("columns, when given, names at least one column")
        return value


class SqlConfig(Strict):
    connection: SecretOrText = Field(
        description="URL: postgresql://, mysql:// or mariadb://, sqlite:///path, oracle://; "
        "usually from a secret."
    )
    password: SecretOrText | None = Field(
        None, description="The password, set into the URL (which then holds none); a secret."
    )
    query: str | None = Field(None, description="A SELECT (or anything returning rows).")
    execute: str | None = Field(None, description="A statement; its output is the row count.")
    insert: InsertOp | None = Field(None, description="Insert a list of objects in batches.")
    params: Value | None = Field(None, description="Bound parameters for :name placeholders.")
    timeout: Duration | None = Field(None, description="For the whole operation.")

    @model_validator(mode="after")
    def _exactly_one(self) -> SqlConfig:
        chosen_operation(self, "sql", ("query", "execute", "insert"))
        text = self.query or self.execute
        if text is not None and "${" in text:
            raise ValueError(
                "the SQL text is not a template: pass values as :name placeholders with `params`"
            )
        return self


def driver_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    base = scheme.split("+", 1)[0].lower()
    if not sep or base not in DRIVERS:
        raise ConfigError(
            "sql connection must be a postgresql://, mysql://, mariadb://, sqlite:/// or "
            f"oracle:// URL, got {hide_password(url)!r}"
        )
    return f"{DRIVERS[base]}://{rest}"


def _target(url: str, password: str | None) -> tuple[Any, tuple[str, str, str]]:
    """The driver URL (a SQLAlchemy ``URL``, ``password`` set into it, escaped by SQLAlchemy)
    and the pool's key: the URL without its password plus a digest of the whole, so that two
    passwords get two pools while no key, log line or repr ever holds a password."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        target = make_url(driver_url(url))
    except ArgumentError:
        raise ConfigError(f"sql connection is not a valid URL: {hide_password(url)!r}") from None
    if password is not None:
        target = target.set(password=password)
    full = target.render_as_string(hide_password=False)
    digest = hashlib.sha256(full.encode("utf-8")).hexdigest()[:16]
    return target, ("sql", target.render_as_string(hide_password=True), digest)


def _engine(ctx: NodeContext, url: str, password: str | None) -> Any:
    from sqlalchemy.ext.asyncio import create_async_engine

    target, key = _target(url, password)

    def create() -> Any:
        options: dict[str, Any] = {}
        if target.get_backend_name() != "sqlite":
            options = {"pool_pre_ping": True, "pool_size": 5, "max_overflow": 10}
        return create_async_engine(target, **options)

    return ctx.resources.get(key, create, lambda engine: engine.dispose())


def _value(value: Any) -> Any:
    """A column value as the flow sees it: JSON types, and bytes for binary columns (as
    ``json_default`` writes them). Arrays and JSON columns are converted all the way down."""
    if value is None or isinstance(value, bool | int | float | str | bytes):
        return value
    if isinstance(value, Decimal):
        return exact_decimal(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, memoryview | bytearray):
        return bytes(value)
    if isinstance(value, dict):
        return {str(k): _value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_value(v) for v in value]
    return str(value)


def exact_decimal(value: Decimal) -> int | float | str:
    """Exact: an integer as an int; a fraction as a float only when the float holds exactly the
    same decimal value (its shortest text reads back as this number: up to 15 significant digits
    always), else as text with every digit; NaN and infinities as text."""
    if not value.is_finite():
        return str(value)
    if value == value.to_integral_value():
        return int(value)
    number = float(value)
    if Decimal(repr(number)) == value:
        return number
    return str(value)


async def run(config: SqlConfig, ctx: NodeContext) -> dict[str, Any]:
    import asyncio

    url = ctx.reveal(config.connection)
    password = ctx.reveal(config.password) if config.password is not None else None
    try:
        engine = _engine(ctx, url, password)
    except ImportError as exc:
        extra = EXTRAS.get(url.split("://")[0].split("+")[0], "sql")
        raise ConfigError(
            f"the database driver is not installed ({exc.name}): pip install 'weir[{extra}]'"
        ) from None
    params = ctx.eval(config.params) or {}
    if not isinstance(params, dict):
        raise ConfigError(f"sql params must be an object, got {type(params).__name__}")
    ctx.input = {"params": params}
    try:
        if config.timeout is None:
            return await _operate(config, ctx, engine, params)
        async with asyncio.timeout(config.timeout):
            return await _operate(config, ctx, engine, params)
    except TimeoutError:
        if config.timeout is None:
            raise ConnectionFailed("the connection to the database timed out") from None
        raise _late(config.timeout) from None
    except NodeError:
        raise
    except Exception as exc:
        if config.timeout is not None and _statement_timed_out(exc):
            raise _late(config.timeout) from None  # the server's statement_timeout came first
        raise _error(exc, password or engine.url.password) from None


def _late(timeout: float) -> NodeTimeout:
    return NodeTimeout(f"the database did not answer within {timeout:g}s")


def _statement_timed_out(exc: Exception) -> bool:
    original = getattr(exc, "orig", None) or exc
    return getattr(original, "sqlstate", None) == "57014" and "statement timeout" in str(original)


async def _operate(
    config: SqlConfig, ctx: NodeContext, engine: Any, params: dict[str, Any]
) -> dict[str, Any]:
    from sqlalchemy import text

    if config.query is not None:
        async with engine.connect() as connection:
            work = _statement(connection, text(config.query), params, config.timeout)
            result = await stopped_on_cancel(connection, work)
            rows = [{k: _value(v) for k, v in row.items()} for row in result.mappings().all()]
        return {"rows": rows, "count": len(rows)}
    if config.execute is not None:
        async with engine.begin() as connection:
            work = _statement(connection, text(config.execute), params, config.timeout)
            result = await stopped_on_cancel(connection, work)
        return {"rowCount": result.rowcount}
    assert config.insert is not None
    return await _insert(config.insert, ctx, engine, config.timeout)


async def _statement(connection: Any, statement: Any, params: Any, timeout: float | None) -> Any:
    await _limit_statements(connection, timeout)
    return await connection.execute(statement, params)


async def _limit_statements(connection: Any, timeout: float | None) -> None:
    """On PostgreSQL, the node's timeout also as the transaction's ``statement_timeout``: the
    server stops the statement by itself even if this process dies or loses the connection
    before it could cancel it. ``set_config(..., true)`` ends with the transaction, so the
    pooled connection keeps the server's default."""
    from sqlalchemy import text

    if timeout is None or connection.engine.dialect.name != "postgresql":
        return
    milliseconds = str(max(1, math.ceil(timeout * 1000)))
    await connection.execute(
        text("SELECT set_config('statement_timeout', :ms, true)"), {"ms": milliseconds}
    )


async def _insert(
    op: InsertOp, ctx: NodeContext, engine: Any, timeout: float | None
) -> dict[str, Any]:
    from sqlalchemy import column, insert, table

    rows = ctx.eval(op.rows)
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ConfigError("sql insert rows must be a list of objects")
    if not rows:
        return {"rowCount": 0}
    names = op.columns or list(rows[0])
    for name in names:
        if not re.fullmatch(IDENTIFIER, name):
            raise ConfigError(f"sql insert: {name!r} is not a column name")
    schema, _, name = op.table.rpartition(".")
    target = table(name, *(column(n) for n in names), schema=schema or None)
    statement = insert(target)  # identifiers quoted by the dialect, values bound

    async def batches(connection: Any) -> int:
        await _limit_statements(connection, timeout)
        count = 0
        for start in range(0, len(rows), INSERT_BATCH):
            batch = [{n: row.get(n) for n in names} for row in rows[start : start + INSERT_BATCH]]
            await connection.execute(statement, batch)
            count += len(batch)
        return count

    async with engine.begin() as connection:  # all batches or none
        return {"rowCount": await stopped_on_cancel(connection, batches(connection))}


def _error(exc: Exception, password: str | None) -> NodeError:
    from sqlalchemy import exc as sa

    original = getattr(exc, "orig", None) or exc
    message = (
        str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__
    )
    message = hide_password(message)
    if password:
        message = message.replace(password, "***")
    lowered = message.lower()
    code = str(getattr(original, "sqlstate", "") or getattr(original, "pgcode", "") or "")
    args = getattr(original, "args", ())
    mysql_code = args[0] if args and isinstance(args[0], int) else None
    if (
        "password authentication failed" in lowered
        or "access denied" in lowered
        or mysql_code == 1045
        or code in ("28P01", "28000")
        or ("role" in lowered and "does not exist" in lowered)
    ):
        return AuthFailed(f"the database refused the credentials: {message}")
    if isinstance(exc, sa.OperationalError | sa.InterfaceError | OSError) and (
        "connect" in lowered
        or "refused" in lowered
        or "can't connect" in lowered
        or mysql_code in (2003, 2013)
    ):
        return ConnectionFailed(f"cannot reach the database: {message}")
    if code in ("40001", "40P01") or mysql_code in (1213, 1205) or "deadlock" in lowered:
        return NodeError(
            f"the transaction was rolled back and can be retried: {message}",
            type="sql",
            retryable=True,
        )
    return NodeError(message, type="sql")


def connection(config: SqlConfig, ctx: NodeContext) -> str | None:
    """The database's URL without its password: its circuit breaker's key (none for SQLite)."""
    return service_url(ctx.reveal(config.connection))


KIND = NodeKind(
    "sql",
    SqlConfig,
    run,
    "A query, a statement or a batch insert on a SQL database.",
    connection,
)
