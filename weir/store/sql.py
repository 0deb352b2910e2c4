"""The execution store on SQLAlchemy Core: SQLite by default, PostgreSQL in a cluster.

The schema is versioned (``weir.store.migrations``): ``start`` upgrades it. The tables below are
what the queries use; a test checks that they match the newest revision.

Recording only appends to a queue; a background writer persists batches in one transaction
each, so recording does not dominate run time. A failed write is retried with backoff and never
dropped while the process lives; records wait in memory meanwhile, and a warning is logged
when more than ``max_queue`` of them are waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    select,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from weir.lang.expressions import json_default
from weir.store.connect import store_engine
from weir.store.migrations import upgrade
from weir.store.records import ExecutionRecord, NodeRunRecord, iso_attempts

log = logging.getLogger("weir.store")
_ENCODE = json.JSONEncoder(default=json_default, ensure_ascii=False).encode
metadata = MetaData()

executions = Table(
    "weir_executions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("flow", String(253), nullable=False, index=True),
    Column("revision", String(64), nullable=False),
    Column("trigger_kind", String(16), nullable=False),
    Column("trigger", Text),
    Column("status", String(16), nullable=False, index=True),
    Column("started_at", Float, nullable=False, index=True),
    Column("finished_at", Float),
    Column("duration_ms", Float),
    Column("error", Text),
    Column("result", Text),
    Column("replay_of", String(32)),
)

node_runs = Table(
    "weir_node_runs",
    metadata,
    Column("execution_id", String(32), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("node", String(63), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Text),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("input", Text),
    Column("output", Text),
    Column("error", Text),
)

DEFAULT_VALUE_LIMIT = 1024 * 1024
PREVIEW = 1000
INITIAL_RETRY_DELAY = 0.5


class AmbiguousId(LookupError):
    pass


class SqlExecutionStore:
    def __init__(
        self,
        url: str,
        *,
        value_limit: int = DEFAULT_VALUE_LIMIT,
        batch_size: int = 500,
        interval: float = 0.1,
        max_queue: int = 50_000,
        close_timeout: float = 30.0,
    ) -> None:
        self.url = url
        self.value_limit = value_limit
        self.batch_size = batch_size
        self.interval = interval
        self.max_queue = max_queue
        self.close_timeout = close_timeout
        self.batches_written = 0
        self.lost = 0
        """Records still unwritten when the store was closed (given up on: lost)."""
        self._engine: AsyncEngine | None = None
        self._queue: list[ExecutionRecord | NodeRunRecord] = []
        self._wake = asyncio.Event()
        self._written = asyncio.Condition()
        self._enqueued = 0
        self._persisted = 0
        self._writer: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def dialect(self) -> str:
        return self.url.split("+", 1)[0].split(":", 1)[0]

    async def start(self) -> None:
        """Upgrade the schema to the newest revision (creating it in an empty database), then
        start the batch writer."""
        if self._engine is not None:
            return
        engine = store_engine(self.url)
        try:
            await upgrade(engine)
        except BaseException:
            await engine.dispose()
            raise
        self._engine = engine
        self._writer = asyncio.get_running_loop().create_task(self._write_loop())

    # Recording: O(1), no awaiting.

    def record_execution(self, record: ExecutionRecord) -> None:
        self._enqueue(_copy_execution(record))

    def record_node(self, record: NodeRunRecord) -> None:
        self._enqueue(record)

    def _enqueue(self, item: ExecutionRecord | NodeRunRecord) -> None:
        self._queue.append(item)
        self._enqueued += 1
        if len(self._queue) >= self.batch_size:
            self._wake.set()
        if len(self._queue) == self.max_queue:
            log.warning(
                "%d execution records are waiting to be written: is the store reachable?",
                self.max_queue,
            )

    async def flush(self) -> None:
        """Wait until everything recorded before this call is written."""
        if self._writer is None:
            raise RuntimeError("the store is not started")
        target = self._enqueued
        self._wake.set()
        async with self._written:
            await self._written.wait_for(
                lambda: self._persisted >= target or self._writer is None or self._writer.done()
            )

    async def aclose(self, timeout: float | None = None) -> None:
        """Write what is queued (waiting up to ``timeout``, by default ``close_timeout``, for an
        unreachable store), then stop; ``lost`` counts the records that could not be written."""
        timeout = self.close_timeout if timeout is None else timeout
        if self._writer is not None:
            try:
                async with asyncio.timeout(timeout):
                    await self.flush()
            except TimeoutError:
                log.error(
                    "%d execution records could not be written within %.0fs and are lost",
                    len(self._queue),
                    timeout,
                )
            # A stop flag, not cancel(): on 3.11 a cancel that races the wake-up can be lost.
            self._closing = True
            self._wake.set()
            await self._writer
            self._writer = None
            self.lost += len(self._queue)
            self._queue.clear()
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    async def _write_loop(self) -> None:
        delay = INITIAL_RETRY_DELAY
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._wake.wait()
            self._wake.clear()
            while self._queue and not self._closing:
                batch = self._queue[: self.batch_size]
                try:
                    await self._write(batch)
                except Exception as exc:  # keep the records and try again; never drop them
                    log.warning(
                        "writing %d execution records failed (%s); retrying in %.1fs",
                        len(batch),
                        exc,
                        delay,
                    )
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(delay):  # woken early by aclose()
                            await self._wake.wait()
                    self._wake.clear()
                    delay = min(delay * 2, 30.0)
                    continue
                delay = INITIAL_RETRY_DELAY
                del self._queue[: len(batch)]
                self._persisted += len(batch)
                self.batches_written += 1
                async with self._written:
                    self._written.notify_all()

    async def _write(self, batch: Sequence[ExecutionRecord | NodeRunRecord]) -> None:
        assert self._engine is not None
        latest: dict[str, ExecutionRecord] = {}
        for item in batch:
            if isinstance(item, ExecutionRecord):
                latest[item.id] = item  # the last state in the batch wins; encode only that
        rows = [self._node_row(item) for item in batch if isinstance(item, NodeRunRecord)]
        async with self._engine.begin() as connection:
            if latest:
                rows_now = [self._execution_row(record) for record in latest.values()]
                await connection.exec_driver_sql(self._upsert_executions, rows_now)
            if rows:
                # Plain driver executemany: compiling the insert per row costs more than the write.
                await connection.exec_driver_sql(self._insert_nodes, rows)

    @property
    def _upsert_executions(self) -> str:
        # The same ON CONFLICT clause serves SQLite and PostgreSQL.
        mark = "?" if self.dialect == "sqlite" else "%s"
        names = [c.name for c in executions.columns]
        updates = ", ".join(f"{n} = excluded.{n}" for n in names if n != "id")
        return (
            f"INSERT INTO {executions.name} ({', '.join(names)}) "
            f"VALUES ({', '.join(mark for _ in names)}) "
            f"ON CONFLICT (id) DO UPDATE SET {updates}"
        )

    def _encode(self, value: Any) -> str | None:
        if value is None:
            return None
        text = _ENCODE(value)
        if len(text) > self.value_limit:
            return json.dumps(
                {"$truncated": True, "bytes": len(text.encode()), "preview": text[:PREVIEW]}
            )
        return text

    def _execution_row(self, record: ExecutionRecord) -> tuple[Any, ...]:
        # In the order of executions' columns.
        return (
            record.id,
            record.flow,
            record.revision,
            record.trigger_kind,
            self._encode(record.trigger),
            record.status,
            record.started_at,
            record.finished_at,
            record.duration_ms,
            self._encode(record.error),
            self._encode(record.result),
            record.replay_of,
        )

    @property
    def _insert_nodes(self) -> str:
        mark = "?" if self.dialect == "sqlite" else "%s"
        columns = ", ".join(c.name for c in node_runs.columns)
        marks = ", ".join(mark for _ in node_runs.columns)
        return f"INSERT INTO {node_runs.name} ({columns}) VALUES ({marks})"

    def _node_row(self, record: NodeRunRecord) -> tuple[Any, ...]:
        # In the order of node_runs' columns.
        return (
            record.execution_id,
            record.seq,
            record.node,
            record.kind,
            record.status,
            self._encode(record.attempts),
            record.started_at,
            record.finished_at,
            record.duration_ms,
            self._encode(record.input),
            self._encode(record.output),
            self._encode(record.error),
        )

    # Reading.

    async def list_executions(
        self, *, flow: str | None = None, status: str | None = None, limit: int = 20
    ) -> list[ExecutionRecord]:
        assert self._engine is not None, "the store is not started"
        query = select(executions).order_by(executions.c.started_at.desc()).limit(limit)
        if flow:
            query = query.where(executions.c.flow == flow)
        if status:
            query = query.where(executions.c.status == status)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [_execution(row) for row in rows]

    async def get_execution(
        self, execution_id: str
    ) -> tuple[ExecutionRecord, list[NodeRunRecord]] | None:
        assert self._engine is not None, "the store is not started"
        async with self._engine.connect() as connection:
            query = (
                select(executions)
                .where(executions.c.id.startswith(execution_id, autoescape=True))
                .limit(6)
            )
            rows = (await connection.execute(query)).mappings().all()
            exact = [row for row in rows if row["id"] == execution_id]
            if exact:
                rows = exact
            if not rows:
                return None
            if len(rows) > 1:
                candidates = ", ".join(sorted(row["id"] for row in rows[:5]))
                raise AmbiguousId(
                    f"execution id prefix {execution_id!r} is ambiguous: {candidates}"
                )
            found = _execution(rows[0])
            query = (
                select(node_runs)
                .where(node_runs.c.execution_id == found.id)
                .order_by(node_runs.c.seq)
            )
            nodes = [_node(row) for row in (await connection.execute(query)).mappings().all()]
        return found, nodes


def _copy_execution(record: ExecutionRecord) -> ExecutionRecord:
    # The engine updates its record in place when the execution ends; queue a snapshot.
    return ExecutionRecord(**vars(record))


def _decode(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _execution(row: Any) -> ExecutionRecord:
    return ExecutionRecord(
        id=row["id"],
        flow=row["flow"],
        revision=row["revision"],
        trigger_kind=row["trigger_kind"],
        trigger=_decode(row["trigger"]) or {},
        status=row["status"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        error=_decode(row["error"]),
        result=_decode(row["result"]),
        replay_of=row["replay_of"],
    )


def _node(row: Any) -> NodeRunRecord:
    return NodeRunRecord(
        execution_id=row["execution_id"],
        seq=row["seq"],
        node=row["node"],
        kind=row["kind"],
        status=row["status"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        attempts=iso_attempts(_decode(row["attempts"]) or []),
        input=_decode(row["input"]),
        output=_decode(row["output"]),
        error=_decode(row["error"]),
    )
