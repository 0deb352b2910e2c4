"""The process that writes a SQLite store's batches: one connection, one transaction a batch.

Why a process: in a thread, every statement of a batch hands Python's lock over twice (SQLite
releases it around each step), and on a busy runner each hand-over waits for the event loop;
the writer then took twice its own time and slowed the loop with it (docs/recording.md). The
process takes a batch in one message and answers in one, and writes beside the event loop on
another core.

Standard library only: it runs as a script (``python sqlite_writer.py PATH SYNCHRONOUS``),
without importing the store. Messages both ways are a 4-byte big-endian length and the data:
the parent sends a list of (statement, rows) by ``marshal``, which takes plain values only (a
str subclass is refused in the parent, not misread here); the writer answers None or the
exception it raised, by ``pickle``. Length 0, or the parent's end of the pipe closing (its
process exited, even by ``kill -9``), ends it after the batch in hand. It ignores SIGINT and
SIGTERM, which reach a whole process group (Ctrl-C in a terminal): the parent says when to
stop, once its last records are written.
"""

from __future__ import annotations

import marshal
import pickle
import signal
import sqlite3
import struct
import sys
import threading
import time
from collections.abc import Sequence
from typing import IO, Any

HEADER = struct.Struct(">I")
CHECKPOINT_EVERY = 0.05
"""Seconds between checkpoints while commits come (docs/recording.md)."""
RESTART_EVERY = 1.0
"""Seconds between the writer's own checkpoints, which let the log start afresh: each took
about 5 ms (mostly syncing the file), which the batch behind it waits."""
Statements = Sequence[tuple[str, Sequence[tuple[Any, ...]]]]


def sqlite_pragmas(synchronous: str, connection: Any, _record: Any) -> None:
    # WAL lets `weir executions` read while a runner writes. NORMAL syncs at checkpoints
    # only: a commit survives the process being killed, and a power loss may take the last
    # commits back (never corrupts); FULL syncs every commit, surviving a power loss too.
    cursor = connection.cursor()
    cursor.execute("PRAGMA busy_timeout=5000")
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError as exc:
        # Connections opening a new file at once race to switch it, and SQLite refuses all but
        # one without waiting. WAL is a property of the file: the others read it from there.
        if "locked" not in str(exc):
            raise
    cursor.execute(f"PRAGMA synchronous={synchronous}")
    cursor.close()


def write_batch(connection: sqlite3.Connection, statements: Statements) -> None:
    """The statements in one transaction; rolled back and raised if any fails."""
    connection.execute("BEGIN IMMEDIATE")  # the write lock now, waiting busy_timeout
    try:
        for statement, rows in statements:
            connection.executemany(statement, rows)
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


def batch_message(statements: Statements) -> bytes:
    """A batch as the writer reads it."""
    data = marshal.dumps(list(statements))  # plain values, or it raises
    return HEADER.pack(len(data)) + data


def send_answer(stream: IO[bytes], error: BaseException | None) -> None:
    _send(stream, pickle.dumps(answer_for(error), protocol=pickle.HIGHEST_PROTOCOL))


def _send(stream: IO[bytes], data: bytes) -> None:
    stream.write(HEADER.pack(len(data)) + data)
    stream.flush()


def receive_batch(stream: IO[bytes]) -> tuple[bool, Any]:
    return _receive(stream, marshal.loads)


def receive_answer(stream: IO[bytes]) -> tuple[bool, Any]:
    return _receive(stream, pickle.loads)


def _receive(stream: IO[bytes], loads: Any) -> tuple[bool, Any]:
    """(True, the message), or (False, None) at the end: length 0 or the pipe closed."""
    header = read_exactly(stream, HEADER.size)
    if header is None:
        return False, None
    (size,) = HEADER.unpack(header)
    if size == 0:
        return False, None
    data = read_exactly(stream, size)
    if data is None:
        return False, None
    return True, loads(data)


def read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    chunks = []
    while size:
        chunk = stream.read(size)
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def answer_for(error: BaseException | None) -> Any:
    """What goes back: None, or the exception if it pickles (sqlite3's do), else a
    RuntimeError saying what it was."""
    if error is None:
        return None
    try:
        pickle.dumps(error)
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error


class Checkpoints:
    """Checkpoints by a thread and a connection of their own, so that no commit waits for one.

    SQLite's own (every 1,000 pages) runs in the commit that crosses the mark, syncing the
    database file: that commit, and the batch waiting behind it, took 5 to 9 ms instead of
    0.2. Here a PASSIVE checkpoint, which never blocks the writer, follows commits at most
    every ``every`` seconds."""

    def __init__(self, path: str, synchronous: str, every: float = CHECKPOINT_EVERY) -> None:
        self.path = path
        self.synchronous = synchronous
        self.every = every
        self.wanted = threading.Event()
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name="weir-checkpoints", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        connection = sqlite3.connect(self.path, isolation_level=None)
        try:
            sqlite_pragmas(self.synchronous, connection, None)
            while True:
                self.wanted.wait()
                if self.stopping:
                    return
                self.wanted.clear()
                checkpoint(connection)
                time.sleep(self.every)
        finally:
            connection.close()

    def stop(self) -> None:
        self.stopping = True
        self.wanted.set()
        self.thread.join()


def checkpoint(connection: sqlite3.Connection) -> None:
    """A PASSIVE checkpoint, which never blocks a writer; a failed one is reported, and the
    next one catches up."""
    try:
        connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
    except sqlite3.Error as exc:
        print(f"weir store: checkpoint failed: {exc}", file=sys.stderr)


def serve(path: str, synchronous: str, requests: IO[bytes], answers: IO[bytes]) -> None:
    connection: sqlite3.Connection | None = None
    checkpoints: Checkpoints | None = None
    restart_at = time.monotonic() + RESTART_EVERY
    try:
        while True:
            more, statements = receive_batch(requests)
            if not more:
                return
            error: BaseException | None = None
            try:
                if connection is None:
                    connection = sqlite3.connect(path, isolation_level=None)
                    sqlite_pragmas(synchronous, connection, None)
                    connection.execute("PRAGMA wal_autocheckpoint=0")  # Checkpoints does
                    checkpoints = Checkpoints(path, synchronous)
                write_batch(connection, statements)
            except Exception as exc:  # the parent keeps the batch and tries again
                error = exc
            send_answer(answers, error)
            if checkpoints is not None:
                checkpoints.wanted.set()
            if connection is not None and time.monotonic() >= restart_at:
                # The thread's checkpoints race the commits and so never finish the whole
                # log, and SQLite starts the log afresh only at a commit that finds it all
                # checkpointed: this one, by the writer after its answer went, copies what the
                # thread left (little), and the next commit starts the log from its beginning.
                checkpoint(connection)
                restart_at = time.monotonic() + RESTART_EVERY
    finally:
        if checkpoints is not None:
            checkpoints.stop()
        if connection is not None:
            connection.close()


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    path, synchronous = sys.argv[1], sys.argv[2]
    serve(path, synchronous, sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    main()
