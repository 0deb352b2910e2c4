"""The waits of parked executions (``weir_waits``), read and changed beside the batch writer.

A wait is created ``pending`` with its node run (weir.store.wait_writes). A person or a child
flow ``resolve``s it (compare-and-set: a second resolve gets ``AlreadyResolved``). A runner's
waker asks for the ``due`` ones — pending timers whose time came, pending waits past their
deadline, resolved ones — of executions recorded ``waiting``, and ``claim``s each: one
transaction flips the execution from waiting to running and the wait to ``claimed``, both
only if they still stand as read, so that of any number of runners sharing the database one
resumes it, once. The resume marks it ``resumed`` (or ``timed_out``) with the parked node's
outcome. A runner that dies holding a claim before that: ``take_back`` (at each heartbeat of
every live runner) returns the wait to pending (or resolved) and the execution to waiting.

Times are this process's clock, as the waits' due times are.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from weir.store import events
from weir.store.encode import decode, to_json
from weir.store.records import Status
from weir.store.runners import Runners
from weir.store.tables import executions, node_runs, runners, waits
from weir.store.wait_writes import CANCELLED, CLAIMED, OPEN, PENDING, RESOLVED

log = logging.getLogger("weir.store")
W, E = waits.name, executions.name
DUE_LIMIT = 100


@dataclass(frozen=True, slots=True)
class Wait:
    id: str
    execution_id: str
    node: str
    seq: int
    kind: str
    state: str
    due_at: float | None
    details: dict[str, Any]
    token_hash: str | None
    schema: Any
    result: Any
    """``{"output": …}`` or ``{"error": {…}}`` once resolved; None before."""
    resolved_by: str | None
    claimed_by: str | None
    fence: int
    created_at: float
    updated_at: float

    @classmethod
    def of(cls, row: Any) -> Wait:
        return cls(
            id=row["id"],
            execution_id=row["execution_id"],
            node=row["node"],
            seq=row["seq"],
            kind=row["kind"],
            state=row["state"],
            due_at=row["due_at"],
            details=decode(row["details"]) or {},
            token_hash=row["token_hash"],
            schema=decode(row["schema"]),
            result=decode(row["result"]),
            resolved_by=row["resolved_by"],
            claimed_by=row["claimed_by"],
            fence=row["fence"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


class UnknownWait(LookupError):
    """No wait by that id or token."""


class AlreadyResolved(RuntimeError):
    """The wait was resolved, resumed, timed out or cancelled before: ``wait`` is how it stands
    (its ``result`` is the first resolution's). APIs answer 409."""

    def __init__(self, wait: Wait) -> None:
        super().__init__(f"wait {wait.id} is {wait.state}, not pending")
        self.wait = wait


_OPEN = f"('{OPEN[0]}', '{OPEN[1]}')"
_DUE = (
    f"SELECT w.* FROM {W} w JOIN {E} e ON e.id = w.execution_id "
    f"WHERE e.status = '{Status.WAITING.value}' AND e.namespace = :ns "
    f"AND ((w.state = '{PENDING}' AND w.due_at <= :until) OR w.state = '{RESOLVED}')"
)
_FLOWS = " AND e.flow IN :flows"
_FLIP = (
    f"UPDATE {E} SET status = '{Status.RUNNING.value}', runner = :runner "
    f"WHERE id = :execution AND status = '{Status.WAITING.value}' RETURNING started_at"
)
_CLAIM = (
    f"UPDATE {W} SET state = '{CLAIMED}', claimed_by = :runner, fence = fence + 1, "
    f"updated_at = :now WHERE id = :id AND (state = '{RESOLVED}' "
    f"OR (state = '{PENDING}' AND due_at <= :now)) RETURNING *"
)
_RESOLVE = (
    f"UPDATE {W} SET state = '{RESOLVED}', result = :result, resolved_by = :by, "
    f"updated_at = :now WHERE {{where}} AND state = '{PENDING}' RETURNING *"
)
_UNCLAIM = (
    f"UPDATE {W} SET state = CASE WHEN result IS NULL THEN '{PENDING}' ELSE '{RESOLVED}' END, "
    "claimed_by = NULL, updated_at = :now "
)
_RETURN = "RETURNING execution_id"
_ABANDONED = f"state = '{CLAIMED}' AND claimed_by NOT IN (SELECT id FROM {runners.name}) "
_TAKE_BACK = _UNCLAIM + "WHERE " + _ABANDONED + _RETURN
_ANY_ABANDONED = f"SELECT 1 FROM {W} WHERE " + _ABANDONED + "LIMIT 1"


class _Lost(Exception):
    """The claim lost a race: roll its transaction back."""


class SqlWaits:
    """The waits in the execution store's database; usable once the store started."""

    def __init__(
        self,
        dialect: str,
        engine: Callable[[], AsyncEngine],
        runners: Callable[[], Runners | None],
        *,
        namespace: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.dialect = dialect
        self.namespace = namespace
        self.clock = clock
        self._engine = engine
        self._runners = runners
        # SQLite takes one writer at a time: this process's writes queue here (weir.store.state).
        self._writing = asyncio.Lock() if dialect == "sqlite" else None

    async def due(
        self, *, flows: Sequence[str] | None = None, within: float = 0.0, limit: int = DUE_LIMIT
    ) -> list[Wait]:
        """Waits of waiting executions that can be resumed now, or whose time comes within
        ``within`` seconds: soonest first; of ``flows`` only, when given."""
        sql = _DUE + (_FLOWS if flows is not None else "") + " ORDER BY w.due_at LIMIT :limit"
        statement = text(sql)
        params: dict[str, Any] = {"ns": self.namespace, "until": self.clock() + within}
        if flows is not None:
            if not flows:
                return []
            statement = statement.bindparams(bindparam("flows", expanding=True))
            params["flows"] = list(flows)
        params["limit"] = limit
        async with self._engine().connect() as connection:
            rows = (await connection.execute(statement, params)).mappings().all()
        return [Wait.of(row) for row in rows]

    async def claim(self, wait_id: str, execution_id: str) -> Wait | None:
        """Take the wait for this runner to resume: the claimed wait (its ``fence`` raised),
        or None when another runner got it first, it is not due, or its execution is not
        waiting (it runs, on another branch's resume)."""
        runs = self._runners()
        assert runs is not None, "the store is not started"
        now = self.clock()
        try:
            async with self._writer(), self._engine().begin() as connection:
                if not runs.registered:  # its executions must name a live runner
                    statement, rows = runs.registration()
                    await connection.exec_driver_sql(statement, rows[0])
                params = {"runner": runs.identity.id, "execution": execution_id}
                flipped = (await connection.execute(text(_FLIP), params)).first()
                if flipped is None:
                    raise _Lost
                row = (
                    (await connection.execute(text(_CLAIM), {**params, "id": wait_id, "now": now}))
                    .mappings()
                    .first()
                )
                if row is None or row["execution_id"] != execution_id:
                    raise _Lost
                await self._event(connection, execution_id, Status.RUNNING, now)
        except _Lost:
            return None
        runs.registered = True
        return Wait.of(row)

    async def resolve(
        self,
        result: dict[str, Any],
        by: str,
        *,
        wait_id: str | None = None,
        token_hash: str | None = None,
    ) -> Wait:
        """Resolve a pending wait (by id or by its token's hash) with ``result``
        (``{"output": …}`` or ``{"error": {"message", "type"}}``), recording ``by`` whom.
        UnknownWait if there is none; AlreadyResolved if it is no longer pending."""
        where, key = (
            ("id = :key", wait_id) if wait_id is not None else ("token_hash = :key", token_hash)
        )
        if key is None:
            raise ValueError("resolve: give wait_id or token_hash")
        params = {"key": key, "result": to_json(result), "by": by[:253], "now": self.clock()}
        async with self._writer(), self._engine().begin() as connection:
            row = (
                (await connection.execute(text(_RESOLVE.format(where=where)), params))
                .mappings()
                .first()
            )
            if row is None:
                found = (
                    (await connection.execute(text(f"SELECT * FROM {W} WHERE {where}"), params))
                    .mappings()
                    .first()
                )
                if found is None:
                    raise UnknownWait(f"no wait {key!r}")
                raise AlreadyResolved(Wait.of(found))
        return Wait.of(row)

    async def cancel_waits(self, execution_id: str, *, by: str = "") -> bool:
        """Cancel a waiting execution: it becomes ``cancelled`` with its open waits and its
        waiting node runs, in one transaction. False if it is not waiting (running elsewhere,
        finished, unknown)."""
        now = self.clock()
        who = f" by {by}" if by else ""
        error = {"type": "cancelled", "message": f"execution was cancelled{who} while waiting"}
        async with self._writer(), self._engine().begin() as connection:
            found = (
                await connection.execute(
                    text(
                        f"UPDATE {E} SET status = :status, finished_at = :now, "
                        "duration_ms = (:now - started_at) * 1000, error = :error, "
                        f"error_type = 'cancelled' WHERE id = :id AND status = "
                        f"'{Status.WAITING.value}' RETURNING started_at"
                    ),
                    {
                        "status": Status.CANCELLED.value,
                        "now": now,
                        "id": execution_id,
                        "error": json.dumps(error),
                    },
                )
            ).first()
            if found is None:
                return False
            params = {"id": execution_id, "now": now}
            await connection.execute(
                text(
                    f"UPDATE {W} SET state = '{CANCELLED}', updated_at = :now "
                    f"WHERE execution_id = :id AND state IN {_OPEN}"
                ),
                params,
            )
            await connection.execute(
                text(
                    f"UPDATE {node_runs.name} SET status = '{Status.CANCELLED.value}' "
                    f"WHERE execution_id = :id AND status = '{Status.WAITING.value}'"
                ),
                params,
            )
            await self._event(connection, execution_id, Status.CANCELLED, now)
        return True

    async def waiting(self, *, flow: str | None = None, limit: int = 500) -> list[Wait]:
        """Open and claimed waits of waiting or resuming executions, oldest first."""
        sql = (
            f"SELECT w.* FROM {W} w JOIN {E} e ON e.id = w.execution_id "
            f"WHERE w.state IN ('{PENDING}', '{RESOLVED}', '{CLAIMED}') AND e.namespace = :ns "
            f"AND e.status IN ('{Status.WAITING.value}', '{Status.RUNNING.value}')"
        )
        params: dict[str, Any] = {"ns": self.namespace, "limit": limit}
        if flow is not None:
            sql += " AND e.flow = :flow"
            params["flow"] = flow
        async with self._engine().connect() as connection:
            rows = await connection.execute(
                text(sql + " ORDER BY w.created_at LIMIT :limit"), params
            )
            return [Wait.of(row) for row in rows.mappings().all()]

    async def of_execution(self, execution_id: str) -> list[Wait]:
        """Every wait of one execution, in the order they were created."""
        sql = f"SELECT * FROM {W} WHERE execution_id = :id ORDER BY created_at, id"
        async with self._engine().connect() as connection:
            rows = await connection.execute(text(sql), {"id": execution_id})
            return [Wait.of(row) for row in rows.mappings().all()]

    async def get(self, wait_id: str) -> Wait | None:
        """One wait by its id, in any state; None if there is none."""
        async with self._engine().connect() as connection:
            rows = await connection.execute(
                text(f"SELECT * FROM {W} WHERE id = :id"), {"id": wait_id}
            )
            row = rows.mappings().first()
        return None if row is None else Wait.of(row)

    async def count_waiting(self, flows: Sequence[str] | None = None) -> int:
        """Executions recorded ``waiting`` (of ``flows``, when given)."""
        sql = (
            f"SELECT COUNT(*) FROM {E} WHERE status = '{Status.WAITING.value}' AND namespace = :ns"
        )
        statement = text(sql + (" AND flow IN :flows" if flows is not None else ""))
        params: dict[str, Any] = {"ns": self.namespace}
        if flows is not None:
            if not flows:
                return 0
            statement = statement.bindparams(bindparam("flows", expanding=True))
            params["flows"] = list(flows)
        async with self._engine().connect() as connection:
            return int((await connection.execute(statement, params)).scalar() or 0)

    async def take_back(self) -> list[str]:
        """Return the claims of runners that are gone (no row in weir_runners: a sweep found
        them dead) to their waits, and their executions to ``waiting``; the executions.

        Every heartbeat asks: a read first, since a write transaction each time would make
        the store's batches wait for the lock."""
        async with self._engine().connect() as connection:
            if (await connection.execute(text(_ANY_ABANDONED))).first() is None:
                return []
        taken = await self._unclaim(_TAKE_BACK, {})
        if taken:
            log.warning(
                "%d executions a stopped runner was resuming wait again: %s",
                len(taken),
                ", ".join(taken[:10]),
            )
        return taken

    async def release(self, wait: Wait) -> bool:
        """Give back a claim this runner holds (its resume could not start): the wait is
        pending (or resolved) again and its execution waiting. False if the claim is gone."""
        sql = _UNCLAIM + f"WHERE id = :id AND state = '{CLAIMED}' AND fence = :fence " + _RETURN
        return bool(await self._unclaim(sql, {"id": wait.id, "fence": wait.fence}))

    async def _unclaim(self, sql: str, params: dict[str, Any]) -> list[str]:
        now = self.clock()
        async with self._writer(), self._engine().begin() as connection:
            rows = await connection.execute(text(sql), {**params, "now": now})
            ids = sorted({row[0] for row in rows.all()})
            for execution_id in ids:
                flipped = (
                    await connection.execute(
                        text(
                            f"UPDATE {E} SET status = '{Status.WAITING.value}' WHERE id = :id "
                            f"AND status = '{Status.RUNNING.value}' RETURNING started_at"
                        ),
                        {"id": execution_id},
                    )
                ).first()
                if flipped is not None:
                    await self._event(connection, execution_id, Status.WAITING, now)
        return ids

    async def _event(
        self, connection: AsyncConnection, execution_id: str, status: Status, at: float
    ) -> None:
        """The execution's change in the event log; a transaction's last statement."""
        happened = [events.execution_event(execution_id, status, at, None)]
        statement, rows = events.appending(self.dialect, happened)
        await connection.exec_driver_sql(statement, rows[0] if len(rows) == 1 else rows)

    def _writer(self) -> AbstractAsyncContextManager[Any]:
        return self._writing if self._writing is not None else nullcontext()
