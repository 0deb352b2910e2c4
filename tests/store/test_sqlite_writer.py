"""The SQLite store's writer process: started with the first batch and ended with the store, a
killed writer replaced without losing the batch it did not commit, Ctrl-C left to the parent,
gone when the parent is killed, checkpoints that keep the WAL small, a batch it cannot carry
refused in the parent, and a batch written twice (its commit unconfirmed) harmless."""

from __future__ import annotations

import asyncio
import enum
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from tests.store.conftest import Reader
from tests.store.test_group_commit import record_one
from weir.store import open_store, sqlite_writer
from weir.store.batch_rows import Record, batch_statements
from weir.store.records import ExecutionRecord, NodeRunRecord, Status
from weir.store.rows import snapshot
from weir.store.sql import SqlExecutionStore

ON_SQLITE = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
"""The ``store`` and ``store_url`` fixtures (tests/store/conftest.py) on a SQLite file only."""


def writers_of(pid: int) -> list[int]:
    """The writer processes ``pid`` started (Linux)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            command = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            if any(part.endswith(b"sqlite_writer.py") for part in command):
                found.append(int(child))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@ON_SQLITE
async def test_the_writer_starts_with_the_first_batch_and_ends_with_the_store(
    store_url: str,
) -> None:
    store = open_store(store_url)
    await store.start()
    assert writers_of(os.getpid()) == [], "a store that only reads has no writer"
    record_one(store)
    await store.durable(10)
    (writer,) = writers_of(os.getpid())
    await store.aclose()
    assert not alive(writer)
    assert writers_of(os.getpid()) == []


@ON_SQLITE
async def test_a_killed_writer_is_replaced_and_the_batch_it_never_wrote_is_written(
    store: SqlExecutionStore, store_url: str
) -> None:
    first = record_one(store)
    await store.durable(10)
    (writer,) = writers_of(os.getpid())
    os.kill(writer, signal.SIGKILL)
    while alive(writer):
        await asyncio.sleep(0.01)
    second = record_one(store)
    await store.durable(10)  # the failed batch is tried again, by a new writer
    (replacement,) = writers_of(os.getpid())
    assert replacement != writer
    reader = Reader(store_url)
    assert [reader.status(first), reader.status(second)] == ["succeeded", "succeeded"]
    assert reader.node_count(second) == 1


PARENT = """
import asyncio, sys, time
sys.path.insert(0, {root!r})
from tests.store.test_group_commit import record_one
from weir.store import open_store

async def main():
    store = open_store({url!r})
    await store.start()
    record_one(store)
    await store.durable(10)
    print("recorded", flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


@ON_SQLITE
def test_the_writer_ignores_ctrl_c_and_ends_when_its_parent_is_killed(store_url: str) -> None:
    script = PARENT.format(root=str(Path(__file__).parents[2]), url=store_url)
    parent = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)], stdout=subprocess.PIPE
    )
    try:
        assert parent.stdout is not None
        assert parent.stdout.readline().strip() == b"recorded"
        (writer,) = writers_of(parent.pid)
        os.kill(writer, signal.SIGINT)  # as Ctrl-C sends it to the whole process group
        os.kill(writer, signal.SIGTERM)
        time.sleep(0.3)
        assert alive(writer), "the writer must leave stopping to its parent"
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 10
        while alive(writer) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(writer), "the writer outlived its parent"
        assert Reader(store_url).rows("SELECT count(*) FROM weir_executions") == [(1,)]
    finally:
        parent.kill()
        parent.wait()


@ON_SQLITE
async def test_checkpoints_keep_the_write_ahead_log_small(
    store: SqlExecutionStore, tmp_path: Path
) -> None:
    started = time.monotonic()
    for _ in range(300):  # 300 commits of 10 executions: about 40 MB of log unchecked
        for _ in range(10):
            record_one(store)
        await store.durable(10)
        await asyncio.sleep(0.01)  # over several of the writer's restarts
    assert time.monotonic() - started > 3 * sqlite_writer.RESTART_EVERY
    database = (tmp_path / "store.db").stat().st_size
    log = (tmp_path / "store.db-wal").stat().st_size
    assert database > 1_000_000, "the executions reached the database file"
    assert log < 8_000_000, f"the write-ahead log grew to {log} bytes"


def test_a_batch_the_writer_cannot_read_exactly_is_refused_in_the_parent() -> None:
    class Status(enum.StrEnum):
        OK = "ok"

    with pytest.raises(ValueError, match="unmarshallable"):
        sqlite_writer.batch_message([("INSERT INTO t VALUES (?)", [(Status.OK,)])])
    assert sqlite_writer.batch_message([("INSERT INTO t VALUES (?)", [("ok", 1.5, None)])])


async def test_a_batch_written_again_after_an_unconfirmed_commit_changes_no_row(
    store: SqlExecutionStore, store_url: str
) -> None:
    """A writer lost between its commit and its answer leaves the batch to be written again:
    that must succeed and leave one execution and one node run, on both stores."""
    now = time.time()
    record = ExecutionRecord(
        "01kbatchagain0000000000000", "again", "r1", "manual", {}, Status.RUNNING, now
    )
    node = NodeRunRecord(record.id, 1, "shape", "transform", Status.SUCCEEDED, now, now, [], {}, {})
    record.status, record.finished_at = Status.SUCCEEDED, now
    batch: list[Record] = [snapshot(record), node]
    statements = batch_statements(
        batch, store._sql, store._encode, runner="r1", namespace="", registration=None
    )
    assert store._batches is not None
    await store._batches.write(statements)
    await store._batches.write(statements)  # the same batch again
    reader = Reader(store_url)
    assert reader.status(record.id) == "succeeded"
    assert reader.node_count(record.id) == 1


def one_batch(store: SqlExecutionStore, id: str) -> list[tuple[str, Any]]:
    now = time.time()
    record = ExecutionRecord(id, "cut", "r1", "manual", {}, Status.SUCCEEDED, now, now)
    node = NodeRunRecord(id, 1, "shape", "transform", Status.SUCCEEDED, now, now, [], {}, {})
    return batch_statements(
        [snapshot(record), node],
        store._sql,
        store._encode,
        runner="r1",
        namespace="",
        registration=None,
    )


@ON_SQLITE
async def test_a_write_cancelled_before_its_answer_leaves_no_answer_to_the_next(
    store: SqlExecutionStore, store_url: str
) -> None:
    reader = Reader(store_url)
    assert store._batches is not None
    first_id, second_id = "01kcut00000000000000000001", "01kcut00000000000000000002"
    with reader.write_lock_held():  # the writer waits for the lock with the batch in hand
        first = asyncio.create_task(store._batches.write(one_batch(store, first_id)))
        await asyncio.sleep(0.5)
        (writer,) = writers_of(os.getpid())
        assert not first.done()
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
    # The next batch gets its own answer, from the same writer: a constraint it breaks is
    # reported, not the cancelled batch's success.
    broken = [("INSERT INTO weir_node_runs (execution_id) VALUES (?)", [("x",)])]
    with pytest.raises(sqlite3.IntegrityError):
        await store._batches.write(broken)
    await store._batches.write(one_batch(store, second_id))
    assert writers_of(os.getpid()) == [writer]
    assert [reader.status(first_id), reader.status(second_id)] == ["succeeded"] * 2


@ON_SQLITE
async def test_a_fault_handling_one_answer_leaves_the_next_answers_delivered(
    store: SqlExecutionStore, store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert store._batches is not None
    first_id, second_id = "01kfault000000000000000001", "01kfault000000000000000002"

    def faulty(error: BaseException | None) -> None:
        raise RuntimeError("a bug in whoever waited")

    store._batches.start(one_batch(store, first_id), faulty)
    await asyncio.wait_for(store._batches.write(one_batch(store, second_id)), 10)
    reader = Reader(store_url)
    assert [reader.status(first_id), reader.status(second_id)] == ["succeeded"] * 2
    assert "handling the SQLite writer's answer failed" in caplog.text
