"""How one batch becomes one transaction: a list of (statement, rows) run with executemany.

A SQLite file's batches are written by a process of their own (weir.store.sqlite_writer), to
which the event loop writes each batch through a pipe and from which it reads the answer: the
whole transaction is one message and one answer. SQLAlchemy's async adapter instead hands over
each step (check-out, each statement, commit, reset) and runs its own machinery on the event
loop (16 executions: 0.79 ms against 0.29 ms, docs/recording.md), and a writing thread in the
runner's process hands Python's lock over twice per statement, waiting for a busy event loop
each time. PostgreSQL (and an in-memory SQLite database, which only its own connection sees)
write through the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import pickle
import sys
from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from weir.store import sqlite_writer
from weir.store.connect import sqlite_synchronous

Statements = Sequence[tuple[str, Sequence[tuple[Any, ...]]]]


class BatchWriter(Protocol):
    async def write(self, statements: Statements) -> None:
        """Run the statements in one transaction; raise (having rolled back) if any fails."""

    async def aclose(self) -> None: ...


class EngineBatches:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def write(self, statements: Statements) -> None:
        async with self.engine.begin() as connection:
            for statement, rows in statements:
                # One row: execute, a round trip; executemany's pipeline costs a second one.
                many = list(rows)
                await connection.exec_driver_sql(statement, many[0] if len(many) == 1 else many)

    async def aclose(self) -> None:
        """The engine is the store's; it disposes of it."""


class SqliteFileBatches:
    """Batches for weir.store.sqlite_writer, a child process started with the first."""

    def __init__(self, path: str, synchronous: str) -> None:
        self.path = path
        self.synchronous = synchronous
        self._process: asyncio.subprocess.Process | None = None

    async def write(self, statements: Statements) -> None:
        process = self._process or await self._start()
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(sqlite_writer.batch_message(statements))
            await process.stdin.drain()
            header = await process.stdout.readexactly(sqlite_writer.HEADER.size)
            (size,) = sqlite_writer.HEADER.unpack(header)
            error = pickle.loads(await process.stdout.readexactly(size))
        except (OSError, asyncio.IncompleteReadError) as exc:
            self._process = None  # the next batch starts another
            code = await process.wait()
            raise WriterGone(
                f"the SQLite writer process exited with code {code} while writing a batch"
            ) from exc
        except BaseException:
            # Cancelled between a batch and its answer: that answer would be taken for the
            # next batch's. This writer finishes the batch and ends; the next starts another.
            self._process = None
            _let_end(process)
            raise
        if error is not None:
            raise error

    async def _start(self) -> asyncio.subprocess.Process:
        # -I -S: the standard library only, whatever the environment or the site says.
        self._process = await asyncio.create_subprocess_exec(
            *[sys.executable, "-I", "-S", sqlite_writer.__file__, self.path, self.synchronous],
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        return self._process

    async def aclose(self) -> None:
        """Let the writer end after what it has in hand, and wait until it did."""
        if self._process is None:
            return
        process, self._process = self._process, None
        _let_end(process)
        await process.wait()


def _let_end(process: asyncio.subprocess.Process) -> None:
    """Ask the writer to end after the batch in hand."""
    assert process.stdin is not None
    with contextlib.suppress(OSError):  # already gone
        process.stdin.write(sqlite_writer.HEADER.pack(0))
        process.stdin.close()


class WriterGone(OSError):
    """The writer process exited: whether the batch in hand was committed is unknown."""


def batch_writer(url: str, engine: AsyncEngine) -> BatchWriter:
    parsed = make_url(url)
    path = parsed.database or ""
    if parsed.get_backend_name() == "sqlite" and path and path != ":memory:":
        return SqliteFileBatches(path, sqlite_synchronous(parsed))
    return EngineBatches(engine)
