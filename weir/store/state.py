"""The state node's keys in the execution store's database (``weir_state``): each operation is
one statement in a transaction of its own, beside the batch writer (which only records
executions), so that a node sees its write committed when it returns.

As in Redis: an expired row reads as missing; SET clears the expiry unless given one;
INCREMENT keeps a live key's expiry and counts an expired one as absent. The increment is one
``INSERT … ON CONFLICT DO UPDATE … RETURNING``: concurrent increments from any number of
runners never lose one. A sweep deletes expired rows in batches.

Expiry is on this process's clock (``clock``), which tests replace.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncEngine

from weir.nodes.state_store import NotANumber, StateEntry
from weir.store.tables import state

SWEEP_BATCH = 1000
"""Expired rows deleted per transaction."""

T = state.name
LIVE = "(expires_at IS NULL OR expires_at > :now)"
EXPIRED = f"({T}.expires_at IS NOT NULL AND {T}.expires_at <= :now)"

GET = f"SELECT value, expires_at FROM {T} WHERE namespace = :ns AND key = :key AND {LIVE}"

SET = (
    f"INSERT INTO {T} (namespace, key, value, version, expires_at, updated_at) "
    "VALUES (:ns, :key, :value, 1, :expires, :now) ON CONFLICT (namespace, key) DO UPDATE SET "
    f"value = excluded.value, version = {T}.version + 1, "
    "expires_at = excluded.expires_at, updated_at = excluded.updated_at RETURNING version"
)

# The JSON number in `value` plus :by, as JSON text; and whether `value` is a JSON number.
SUM = {
    "sqlite": f"CAST({T}.value + :by AS TEXT)",
    "postgresql": f"CAST(CAST(CAST({T}.value AS jsonb) AS numeric) + CAST(:by AS numeric) AS text)",
}
IS_NUMBER = {
    "sqlite": f"json_type({T}.value) IN ('integer', 'real')",
    "postgresql": f"jsonb_typeof(CAST({T}.value AS jsonb)) = 'number'",
}

# Insert, or take over an expired row; with :renew also a live row holding this very value.
ADD = (
    f"INSERT INTO {T} (namespace, key, value, version, expires_at, updated_at) "
    "VALUES (:ns, :key, :value, 1, :expires, :now) ON CONFLICT (namespace, key) DO UPDATE SET "
    f"value = excluded.value, version = {T}.version + 1, "
    "expires_at = excluded.expires_at, updated_at = excluded.updated_at "
    f"WHERE {EXPIRED} OR (:renew = 1 AND {T}.value = excluded.value) RETURNING version"
)

GET_MANY = (
    f"SELECT key, value, expires_at FROM {T} WHERE namespace = :ns AND key IN :keys AND {LIVE}"
)
GET_MANY_BATCH = 500
"""Keys per query of ``get_many`` (bound parameters have limits)."""

DELETE = f"DELETE FROM {T} WHERE namespace = :ns AND key = :key RETURNING expires_at"

SWEEP = (
    f"DELETE FROM {T} WHERE (namespace, key) IN (SELECT namespace, key FROM {T} "
    "WHERE expires_at IS NOT NULL AND expires_at <= :now LIMIT :limit)"
)


def increment_sql(dialect: str) -> str:
    """A missing or expired key becomes :initial (``by`` as JSON) with :expires; a live number
    gets ``by`` added and keeps its expiry; a live non-number is left alone and returns no row."""
    return (
        f"INSERT INTO {T} (namespace, key, value, version, expires_at, updated_at) "
        "VALUES (:ns, :key, :initial, 1, :expires, :now) "
        "ON CONFLICT (namespace, key) DO UPDATE SET "
        f"value = CASE WHEN {EXPIRED} THEN excluded.value ELSE {SUM[dialect]} END, "
        f"version = {T}.version + 1, "
        f"expires_at = CASE WHEN {EXPIRED} THEN excluded.expires_at ELSE {T}.expires_at END, "
        "updated_at = excluded.updated_at "
        f"WHERE {EXPIRED} OR {IS_NUMBER[dialect]} "
        "RETURNING value, expires_at"
    )


class SqlStateStore:
    """``weir.nodes.state_store.StateStore`` on the execution store's engine."""

    def __init__(
        self,
        dialect: str,
        engine: Callable[[], AsyncEngine],
        *,
        namespace: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if dialect not in SUM:
            raise ValueError(f"state: no support for a {dialect!r} store")
        self.dialect = dialect
        self.namespace = namespace
        self.clock = clock
        self._engine = engine
        self._increment = text(increment_sql(dialect))
        self._get_many = text(GET_MANY).bindparams(bindparam("keys", expanding=True))
        # SQLite takes one writer at a time: queue this process's writes here rather than have
        # each connection poll for the lock (busy_timeout) behind the others.
        self._writing = asyncio.Lock() if dialect == "sqlite" else None

    async def get(self, namespace: str, key: str) -> StateEntry | None:
        row = await self._run(GET, {"ns": namespace, "key": key}, write=False)
        return None if row is None else StateEntry(row[0], row[1])

    async def set(self, namespace: str, key: str, value: str, ttl: float | None) -> StateEntry:
        now = self.clock()
        expires = _expiry(now, ttl)
        params = {"ns": namespace, "key": key, "value": value, "expires": expires, "now": now}
        await self._run(SET, params)
        return StateEntry(value, expires)

    async def increment(
        self, namespace: str, key: str, by: int | float, ttl: float | None
    ) -> StateEntry:
        while True:
            now = self.clock()
            params = {
                "ns": namespace,
                "key": key,
                "by": by,
                "initial": json.dumps(by),
                "expires": _expiry(now, ttl),
                "now": now,
            }
            row = await self._run(self._increment, params)
            if row is not None:
                return StateEntry(row[0], row[1])
            found = await self.get(namespace, key)
            if found is not None:
                raise NotANumber(found.value)
            # Deleted or expired since the increment looked: it now starts from zero.

    async def delete(self, namespace: str, key: str) -> bool:
        now = self.clock()
        row = await self._run(DELETE, {"ns": namespace, "key": key, "now": now})
        return row is not None and (row[0] is None or row[0] > now)

    async def add(
        self, namespace: str, key: str, value: str, ttl: float | None, *, renew: bool = False
    ) -> bool:
        now = self.clock()
        params = {
            "ns": namespace,
            "key": key,
            "value": value,
            "expires": _expiry(now, ttl),
            "now": now,
            "renew": int(renew),
        }
        return await self._run(ADD, params) is not None

    async def get_many(self, namespace: str, keys: list[str]) -> dict[str, StateEntry]:
        found: dict[str, StateEntry] = {}
        for start in range(0, len(keys), GET_MANY_BATCH):
            batch = keys[start : start + GET_MANY_BATCH]
            params = {"ns": namespace, "keys": batch, "now": self.clock()}
            async with self._engine().connect() as connection:
                rows = await connection.execute(self._get_many, params)
                found.update((row[0], StateEntry(row[1], row[2])) for row in rows)
        return found

    async def sweep(self, batch: int = SWEEP_BATCH) -> int:
        """Delete the expired rows, ``batch`` per transaction; how many."""
        deleted = 0
        while True:
            count = await self._count(SWEEP, {"now": self.clock(), "limit": batch})
            deleted += count
            if count < batch:
                return deleted

    async def _run(self, sql: Any, params: dict[str, Any], *, write: bool = True) -> Any:
        """The statement's first row (None if none), committed."""
        params.setdefault("now", self.clock())
        statement = text(sql) if isinstance(sql, str) else sql
        async with self._writer(write), self._engine().begin() as connection:
            return (await connection.execute(statement, params)).first()

    async def _count(self, sql: str, params: dict[str, Any]) -> int:
        async with self._writer(True), self._engine().begin() as connection:
            return int((await connection.execute(text(sql), params)).rowcount)

    def _writer(self, write: bool) -> AbstractAsyncContextManager[Any]:
        return self._writing if write and self._writing is not None else nullcontext()


def _expiry(now: float, ttl: float | None) -> float | None:
    return None if ttl is None else now + ttl
