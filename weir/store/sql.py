"""The execution store on SQLAlchemy Core: SQLite by default, PostgreSQL in a cluster.

The schema is versioned (``weir.store.migrations``): ``start`` upgrades it, then marks the
executions of runners that stopped as interrupted (``weir.store.runners``).

Recording only appends to a queue; a background writer commits batches, one transaction each
(group commit, ``weir.store.writer``), and ``durable`` waits for the batch holding what was
recorded so far: the engine waits for it before a trigger answers (docs/recording.md).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from weir.store import cancels, events, lookup, query
from weir.store import ingest as ingesting
from weir.store import outbox as outgoing
from weir.store.base import Interrupted, InterruptedHook, RecordingUnavailable
from weir.store.batch_rows import Record, batch_statements
from weir.store.batches import BatchWriter, Done, batch_writer
from weir.store.connect import store_engine
from weir.store.encode import encode
from weir.store.events import Owners, StoreEvent
from weir.store.lookup import AmbiguousId
from weir.store.migrations import upgrade
from weir.store.query import ExecutionFilter, SummaryPage
from weir.store.records import ExecutionRecord, NodeRunRecord
from weir.store.retention import Pruning
from weir.store.rows import snapshot
from weir.store.runners import HEARTBEAT, STALE_AFTER, Identity, Runners, log_interrupted
from weir.store.statements import Statements
from weir.store.tables import metadata
from weir.store.wait_writes import WaitWrite
from weir.store.waits import SqlWaits
from weir.store.wire import Shipped
from weir.store.writer import GroupCommit

if TYPE_CHECKING:
    from weir.store.state import SqlStateStore

__all__ = ["AmbiguousId", "SqlExecutionStore", "metadata"]

log = logging.getLogger("weir.store")

DEFAULT_VALUE_LIMIT = 1024 * 1024
RUNNER_ID_LIMIT = 32


class SqlExecutionStore:
    def __init__(
        self,
        url: str,
        *,
        value_limit: int = DEFAULT_VALUE_LIMIT,
        batch_size: int = 500,
        interval: float = 0.0,
        max_queue: int = 50_000,
        close_timeout: float = 30.0,
        heartbeat: float = HEARTBEAT,
        stale_after: float = STALE_AFTER,
    ) -> None:
        self.url = url
        self.value_limit = value_limit
        self.close_timeout = close_timeout
        self.stale_after = stale_after
        self.lost = 0
        """Records still unwritten when the store was closed (given up on: lost)."""
        self.identity = Identity.of_this_process()
        """This process as a runner: its executions carry ``identity.id``."""
        self.namespace = os.environ.get("WEIR_NAMESPACE", "")
        """The namespace of the executions it records that do not carry one."""
        self.interrupted: list[Interrupted] = []
        """Executions this store marked interrupted."""
        self._hooks: list[InterruptedHook] = []
        self._engine: AsyncEngine | None = None
        self._batches: BatchWriter | None = None
        self._runners: Runners | None = None
        self._commits: GroupCommit[Record] = GroupCommit(
            self._start_write,
            batch_size=batch_size,
            interval=interval,
            max_queue=max_queue,
            tick=self._heartbeat,
            tick_every=heartbeat,
        )
        self._writer: asyncio.Task[None] | None = None
        self._sql = Statements(self.dialect)
        self._owners = Owners() if self.dialect == "sqlite" else None
        self._ingesting = asyncio.Lock()
        self._waits = SqlWaits(
            self.dialect, self._started_engine, lambda: self._runners, namespace=self.namespace
        )
        self._polled: dict[str, float] = {}
        """When each runner last asked for its cancellations (monotonic)."""

    @property
    def dialect(self) -> str:
        return self.url.split("+", 1)[0].split(":", 1)[0]

    @property
    def batches_written(self) -> int:
        return self._commits.batches_written

    async def start(self) -> None:
        """Upgrade the schema to the newest revision (creating it in an empty database), mark
        what runners that are gone left running as interrupted, then start the batch writer."""
        if self._engine is not None:
            return
        engine = store_engine(self.url)
        try:
            await upgrade(engine)
        except BaseException:
            await engine.dispose()
            raise
        self._engine = engine
        self._batches = batch_writer(self.url, engine)
        self._runners = Runners(self.dialect, self.identity, self.stale_after)
        try:
            self._noticed(await self._runners.sweep(engine))
            await self.waits().take_back()
        except Exception as exc:  # a read-only role, say: reading must still work
            log.warning("could not look for executions left running by stopped runners: %s", exc)
        self._writer = asyncio.get_running_loop().create_task(self._commits.run())

    # Recording: O(1), no awaiting.

    def record_execution(self, record: ExecutionRecord) -> None:
        # The engine updates its record in place when the execution ends; queue how it is now.
        self._commits.add(snapshot(record))

    def record_node(self, record: NodeRunRecord) -> None:
        self._commits.add(record)

    def record_wait(self, write: WaitWrite) -> None:
        """Queue a park, resume, close or resolve (weir.store.wait_writes)."""
        self._commits.add(write)

    async def durable(self, timeout: float | None = None) -> None:
        """Return once everything recorded before this call is committed; after ``timeout``
        seconds, RecordingUnavailable (the records stay queued)."""
        if self._writer is None:
            if self._commits.waiting:
                raise RuntimeError("the store is not started")
            return
        waiter = self._commits.waiter(timeout)
        if waiter is None:
            return
        if not await waiter:
            raise RecordingUnavailable(
                f"the execution store did not commit within {timeout:g}s "
                f"({self._commits.last_error or 'still writing'}); "
                f"{self._commits.waiting} records wait and are written once it answers"
            )

    async def flush(self) -> None:
        """Wait until everything recorded before this call is written."""
        await self.durable()

    def on_interrupted(self, hook: InterruptedHook) -> None:
        if self.interrupted:
            hook(list(self.interrupted))
        self._hooks.append(hook)

    async def aclose(self, timeout: float | None = None) -> None:
        """Write what is queued (waiting up to ``timeout``, by default ``close_timeout``, for an
        unreachable store), then stop; ``lost`` counts the records that could not be written."""
        timeout = self.close_timeout if timeout is None else timeout
        if self._writer is not None:
            try:
                await self.durable(timeout)
            except RecordingUnavailable as exc:
                log.error("execution records are lost: %s", exc)
            self._commits.close()
            await self._writer
            self._writer = None
            self.lost += self._commits.fail_waiting()
            if self.lost == 0:  # else the store is unreachable: the row goes stale instead
                await self._leave()
        if self._batches is not None:
            await self._batches.aclose()
            self._batches = None
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    async def _leave(self) -> None:
        assert self._engine is not None and self._runners is not None
        try:
            await self._runners.leave(self._engine)
        except Exception as exc:  # its row goes stale; a sweep deletes it then
            log.warning("could not unregister runner %s: %s", self.identity.id, exc)

    async def _heartbeat(self) -> None:
        assert self._engine is not None and self._runners is not None
        self._noticed(await self._runners.heartbeat(self._engine, self._write_now))
        await self.waits().take_back()

    def _noticed(self, found: list[Interrupted]) -> None:
        if not found:
            return
        log_interrupted(found)
        self.interrupted.extend(found)
        for hook in self._hooks:
            hook(found)

    def _start_write(self, batch: Sequence[Record], done: Done) -> None:
        assert self._batches is not None and self._runners is not None
        runners = self._runners
        registering = not runners.registered
        statements = batch_statements(
            batch,
            self._sql,
            self._encode,
            runner=self.identity.id,
            namespace=self.namespace,
            registration=runners.registration() if registering else None,
            owners=self._owners,
        )
        self._batches.start(statements, runners.on_registered(done) if registering else done)

    def _encode(self, value: Any) -> str | None:
        return encode(value, self.value_limit)

    # Reading.

    async def list_executions(
        self, *, flow: str | None = None, status: str | None = None, limit: int = 20
    ) -> list[ExecutionRecord]:
        async with self._reading() as connection:
            return await lookup.recent(connection, flow, status, limit)

    async def get_execution(
        self, execution_id: str, *, payloads: bool = True
    ) -> tuple[ExecutionRecord, list[NodeRunRecord]] | None:
        """By full id or unique prefix; AmbiguousId when the prefix names several. Without
        ``payloads``, node runs without their input and output."""
        async with self._reading() as connection:
            return await lookup.find(connection, execution_id, payloads=payloads)

    async def list_summaries(
        self, filter: ExecutionFilter, *, cursor: str | None = None, limit: int = 50
    ) -> SummaryPage:
        """A page of list rows, newest first (weir.store.query); InvalidQuery for a filter,
        cursor or limit it cannot run."""
        async with self._reading() as connection:
            return await query.summaries(connection, self.dialect, filter, cursor, limit)

    async def get_node_run(self, execution_id: str, seq: int) -> NodeRunRecord | None:
        """One node run with its input and output, by full execution id."""
        async with self._reading() as connection:
            return await lookup.node_run(connection, execution_id, seq)

    # Events: what changed, in commit order (weir.store.events).

    async def events_after(
        self,
        seq: int,
        *,
        execution_id: str | None = None,
        flow: str | None = None,
        namespace: str | None = None,
        namespaces: frozenset[str] | None = None,
        limit: int = 500,
    ) -> list[StoreEvent]:
        """Events numbered above ``seq``, oldest first; ``namespaces`` (authorised ones)
        None means any."""
        async with self._reading() as connection:
            return await events.after(
                connection,
                seq,
                execution_id=execution_id,
                flow=flow,
                namespace=namespace,
                namespaces=namespaces,
                limit=limit,
            )

    async def last_event_seq(self) -> int:
        """The newest event's number; 0 when there is none."""
        async with self._reading() as connection:
            return await events.last_seq(connection)

    # The console's store: executions shipped by runners (weir.store.ingest).

    async def ingest(self, items: Sequence[Shipped], *, runner: str | None = None) -> int:
        """Upsert shipped executions, idempotently; how many changed. ``runner`` (the id of
        the runner that shipped them) is what ``request_cancel`` answers for them and is kept
        alive by its shipments and its polls for ``cancellations``; None: this store's own."""
        if runner is not None and not 0 < len(runner) <= RUNNER_ID_LIMIT:
            raise ValueError(f"runner: {runner[:40]!r}; 1 to {RUNNER_ID_LIMIT} characters")
        async with self._ingesting:  # one at a time: what was read holds until written
            async with self._reading() as connection:
                have = await ingesting.stored(connection, list({r.id: 0 for r, _ in items}))
            found = ingesting.changes(items, have, self._encode, runner or self.identity.id)
            if found.changed:
                await self._write_now(
                    ingesting.statements(found, self._sql, self.dialect, self._registration(runner))
                )
                if runner is None:  # registered as the runner holding them: heartbeat it
                    self._runners.registered = True  # type: ignore[union-attr]
        return found.changed

    def _registration(self, runner: str | None) -> Callable[[], Any] | None:
        assert self._runners is not None
        if runner is not None:
            return functools.partial(self._runners.remote_heartbeat, runner)
        return None if self._runners.registered else self._runners.registration

    # The runner's store as its outbox (weir.store.outbox).

    async def outbox(self, target: str, *, limit: int = 200) -> tuple[list[Shipped], int]:
        """Executions changed since ``target``'s cursor, whole, and the last event covered."""
        async with self._reading() as connection:
            return await outgoing.pending(connection, target, limit)

    async def mark_shipped(self, target: str, seq: int) -> None:
        await self._write_now([outgoing.mark(self.dialect, target, seq)])

    async def backlog(self, target: str) -> int:
        """Changes (events) not shipped to ``target`` yet."""
        async with self._reading() as connection:
            return await outgoing.backlog(connection, target)

    async def prune(
        self,
        *,
        max_age: float | None,
        max_per_flow: int | None,
        keep_unshipped: str | None = None,
    ) -> int:
        """Delete finished executions older than ``max_age`` seconds or beyond the newest
        ``max_per_flow`` of their flow, except those not shipped to ``keep_unshipped``;
        how many (weir.store.retention)."""
        pruning = Pruning(self.dialect, self._reading, self._write_now)
        return await pruning.prune(
            max_age=max_age, max_per_flow=max_per_flow, keep_unshipped=keep_unshipped
        )

    # Cancel requests (weir.store.cancels).

    async def request_cancel(self, execution_id: str) -> str | None:
        """Record a cancel request; the runner holding the execution, None if it is not
        running (finished or unknown)."""
        async with self._reading() as connection:
            runner = await cancels.holder(connection, execution_id)
        if runner is not None:
            row = (execution_id, runner or None, time.time())
            await self._write_now([(cancels.request_sql(self.dialect), [row])])
        return runner

    async def cancellations(self, runner: str) -> list[str]:
        """The running executions of ``runner`` whose cancel was requested. Asking keeps a
        remote runner alive (weir.store.runners)."""
        assert self._runners is not None, "the store is not started"
        if time.monotonic() - self._polled.get(runner, -HEARTBEAT) >= HEARTBEAT:
            self._polled[runner] = time.monotonic()
            await self._write_now([self._runners.remote_touch(runner)])
        async with self._reading() as connection:
            return await cancels.requested(connection, runner)

    async def clear_cancellation(self, execution_id: str) -> None:
        await self._write_now([(cancels.clear_sql(self.dialect), [(execution_id,)])])

    # The state node's keys (weir.store.state).

    def state(self) -> SqlStateStore:
        """The state node's key-value store, in this database; usable once started."""
        # Imported here: it needs weir.nodes (the node registry), which commands that only
        # read executions (`weir executions list`) never load.
        from weir.store.state import SqlStateStore

        return SqlStateStore(self.dialect, self._started_engine, namespace=self.namespace)

    def waits(self) -> SqlWaits:
        """The waits of parked executions (weir.store.waits); usable once started."""
        return self._waits

    def _started_engine(self) -> AsyncEngine:
        assert self._engine is not None, "the store is not started"
        return self._engine

    async def _write_now(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        """One transaction beside the recording batches (on SQLite, on the writer's thread)."""
        assert self._batches is not None, "the store is not started"
        await self._batches.write(statements)

    def _reading(self) -> AbstractAsyncContextManager[AsyncConnection]:
        assert self._engine is not None, "the store is not started"
        return self._engine.connect()
