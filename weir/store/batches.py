"""How one batch becomes one transaction: a list of (statement, rows) run with executemany.

A batch is started with a callback (``start``), called once the transaction committed (None)
or failed (the error): the group commit (weir.store.writer) releases its waiters and starts
the next batch from that callback, without a task of its own between them. ``write`` awaits
the same for a one-off transaction.

A SQLite file's batches are written by a process of their own (weir.store.sqlite_writer), to
which the event loop writes each batch through a pipe and from which it reads the answer: the
whole transaction is one message and one answer, and answers come back in the order the
batches went. SQLAlchemy's async adapter instead hands over each step (check-out, each
statement, commit, reset) and runs its own machinery on the event loop (16 executions: 0.79 ms
against 0.29 ms, docs/recording.md), and a writing thread in the runner's process hands
Python's lock over twice per statement, waiting for a busy event loop each time. PostgreSQL
(and an in-memory SQLite database, which only its own connection sees) write through the
engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pickle
import sys
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from weir.store import sqlite_writer
from weir.store.connect import sqlite_synchronous

log = logging.getLogger("weir.store")
Statements = Sequence[tuple[str, Sequence[tuple[Any, ...]]]]
Done = Callable[[BaseException | None], None]
"""Called once with None when a batch committed, or with the error that rolled it back."""


class BatchWriter(Protocol):
    def start(self, statements: Statements, done: Done) -> None:
        """Begin running the statements in one transaction; ``done`` says how it ended. It is
        never called before ``start`` returns."""

    async def write(self, statements: Statements) -> None:
        """Run the statements in one transaction; raise (having rolled back) if any fails."""

    async def aclose(self) -> None: ...


class EngineBatches:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, statements: Statements, done: Done) -> None:
        task = asyncio.get_running_loop().create_task(self.write(statements))
        self._tasks.add(task)
        task.add_done_callback(lambda task: self._ended(task, done))

    def _ended(self, task: asyncio.Task[None], done: Done) -> None:
        self._tasks.discard(task)
        done(asyncio.CancelledError() if task.cancelled() else task.exception())

    async def write(self, statements: Statements) -> None:
        async with self.engine.begin() as connection:
            for statement, rows in statements:
                # One row: execute, a round trip; executemany's pipeline costs a second one.
                many = list(rows)
                await connection.exec_driver_sql(statement, many[0] if len(many) == 1 else many)

    async def aclose(self) -> None:
        """The engine is the store's; it disposes of it."""


class SqliteFileBatches:
    """Batches for weir.store.sqlite_writer, a child process started with the first.

    Each batch is one message down its stdin; each answer, one message up its stdout, read in
    the pipe's callback and handed to the batch's ``done`` there, in order. A cancelled
    ``write`` leaves its batch to be written and its answer to be dropped: the next batch
    still gets its own."""

    def __init__(self, path: str, synchronous: str) -> None:
        self.path = path
        self.synchronous = synchronous
        self._process: _Writer | None = None
        self._starting: asyncio.Task[None] | None = None
        self._before_start: list[tuple[bytes, Done]] = []
        """Batches sent while the process starts."""

    def start(self, statements: Statements, done: Done) -> None:
        message = sqlite_writer.batch_message(statements)  # refuses what it cannot carry
        if self._process is not None and not self._process.gone:
            self._process.send(message, done)
            return
        self._before_start.append((message, done))
        if self._starting is None:
            self._starting = asyncio.get_running_loop().create_task(self._start())

    async def write(self, statements: Statements) -> None:
        answered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.start(statements, lambda error: _settle(answered, error))
        await answered

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        # -I -S: the standard library only, whatever the environment or the site says.
        command = [sys.executable, "-I", "-S", sqlite_writer.__file__, self.path, self.synchronous]
        process: _Writer | None = None
        try:
            _, process = await loop.subprocess_exec(
                _Writer, *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
            )
        except Exception as exc:  # each waiting batch hears why
            error = exc
        self._process, self._starting = process, None
        waiting, self._before_start = self._before_start, []
        for message, done in waiting:
            if process is None:
                _call(done, error)
            else:
                process.send(message, done)

    async def aclose(self) -> None:
        """Let the writer end after what it was sent, and wait until it did."""
        if self._starting is not None:
            await asyncio.shield(self._starting)
        if self._process is None:
            return
        process, self._process = self._process, None
        await process.end()


class _Writer(asyncio.SubprocessProtocol):
    """The parent's side of one writer process."""

    def __init__(self) -> None:
        self.transport: asyncio.SubprocessTransport | None = None
        self.pending: deque[Done] = deque()
        """The ``done`` of each batch sent and not answered, in the order sent."""
        self.gone = False
        self._answers = bytearray()
        self._exited = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.SubprocessTransport)
        self.transport = transport

    def send(self, message: bytes, done: Done) -> None:
        self.pending.append(done)
        self._stdin().write(message)

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        answers = self._answers
        answers += data
        header = sqlite_writer.HEADER
        while len(answers) >= header.size:
            (size,) = header.unpack_from(answers)
            end = header.size + size
            if len(answers) < end:
                return
            error = pickle.loads(answers[header.size : end])
            del answers[:end]
            if self.pending:  # else a garbled stream: connection_lost tells the rest
                _call(self.pending.popleft(), error)

    def process_exited(self) -> None:
        self.gone = True  # batches from now on go to a new writer

    def connection_lost(self, exc: Exception | None) -> None:
        """The process exited and its pipes are closed: every answer it gave was read."""
        self.gone = True
        assert self.transport is not None
        code = self.transport.get_returncode()
        pending, self.pending = self.pending, deque()
        for done in pending:  # whether it committed first is unknown: written again
            _call(done, WriterGone(f"the SQLite writer process exited with code {code}"))
        if not self._exited.done():
            self._exited.set_result(None)

    async def end(self) -> None:
        """Ask the writer to end after the batches it was sent, and wait until it did."""
        with contextlib.suppress(OSError, RuntimeError):  # already gone
            stdin = self._stdin()
            stdin.write(sqlite_writer.HEADER.pack(0))
            stdin.close()
        await self._exited
        assert self.transport is not None
        self.transport.close()

    def _stdin(self) -> asyncio.WriteTransport:
        assert self.transport is not None
        stdin = self.transport.get_pipe_transport(0)
        assert isinstance(stdin, asyncio.WriteTransport)
        return stdin


def _call(done: Done, error: BaseException | None) -> None:
    """Hand an answer on; a fault there must not close the pipe for the answers after it."""
    try:
        done(error)
    except Exception:
        log.exception("handling the SQLite writer's answer failed")


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():  # its writer was cancelled: the answer is not wanted
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


class WriterGone(OSError):
    """The writer process exited: whether the batch in hand was committed is unknown."""


def batch_writer(url: str, engine: AsyncEngine) -> BatchWriter:
    parsed = make_url(url)
    path = parsed.database or ""
    if parsed.get_backend_name() == "sqlite" and path and path != ":memory:":
        return SqliteFileBatches(path, sqlite_synchronous(parsed))
    return EngineBatches(engine)
