"""Crash recovery: executions a stopped runner left ``running`` are marked interrupted, those of
live runners never are, on SQLite and on a PostgreSQL store several runners share."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.store.conftest import Reader
from weir.store import Interrupted, open_store
from weir.store.records import ExecutionRecord, Status
from weir.store.sql import SqlExecutionStore

RECORDER = """
import asyncio, os, signal, sys, time, uuid
from weir.store import open_store
from weir.store.records import ExecutionRecord

async def main():
    store = open_store(sys.argv[1])
    await store.start()
    record = ExecutionRecord(
        uuid.uuid4().hex[:26], "victim", "r1", "manual", {}, "running", time.time()
    )
    store.record_execution(record)
    await store.flush()
    print(record.id, store.identity.id, flush=True)
    if sys.argv[2] == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    await asyncio.sleep(600)

asyncio.run(main())
"""


class Recorder:
    """A process that records one running execution, then dies at once or lives on."""

    def __init__(self, url: str, fate: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", RECORDER, url, fate],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().split()
        assert len(line) == 2, self.process.stderr.read() if self.process.stderr else ""
        self.execution, self.runner = line
        if fate == "die":
            self.process.wait(30)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(30)  # reaped: its PID no longer names it


@pytest.fixture
def recorders() -> Iterator[Callable[[str, str], Recorder]]:
    started: list[Recorder] = []

    def start(url: str, fate: str) -> Recorder:
        started.append(Recorder(url, fate))
        return started[-1]

    yield start
    for recorder in started:
        recorder.kill()


async def started(url: str, **options: Any) -> SqlExecutionStore:
    store = open_store(url)
    for name, value in options.items():
        setattr(store, name, value)
    await store.start()
    return store


async def record_running(store: SqlExecutionStore) -> ExecutionRecord:
    record = ExecutionRecord(uuid.uuid4().hex[:26], "f", "r1", "manual", {}, "running", time.time())
    store.record_execution(record)
    await store.flush()
    return record


def orphan(reader: Reader, runner: str | None, *, flow: str = "orphaned") -> str:
    execution_id = uuid.uuid4().hex[:26]
    reader.rows(
        "INSERT INTO weir_executions (id, flow, revision, trigger_kind, trigger, status, "
        "started_at, runner) VALUES (?, ?, 'r1', 'manual', '{}', 'running', ?, ?)",
        execution_id,
        flow,
        time.time() - 1,
        runner,
    )
    return execution_id


async def test_a_killed_runners_running_execution_is_interrupted_when_a_store_starts(
    store_url: str, reader_of: Callable[[str], Reader], recorders: Any
) -> None:
    reader = reader_of(store_url)
    killed = recorders(store_url, "die")
    assert reader.status(killed.execution) == "running"

    store = await started(store_url)
    try:
        assert store.interrupted == [Interrupted(killed.execution, "victim")]
        heard: list[list[Interrupted]] = []
        store.on_interrupted(heard.append)  # told of those found before it listened
        assert heard == [[Interrupted(killed.execution, "victim")]]
        found = await store.get_execution(killed.execution)
    finally:
        await store.aclose()
    assert found is not None
    record = found[0]
    assert record.status is Status.INTERRUPTED
    assert record.finished_at is not None and record.finished_at >= record.started_at
    assert record.error is not None and record.error["type"] == "interrupted"
    assert "the runner stopped while this execution ran" in record.error["message"]
    assert store.identity.id in record.error["message"]
    assert reader.rows("SELECT id FROM weir_runners WHERE id = ?", killed.runner) == []


async def test_a_live_runners_running_execution_stays_running_until_it_is_killed(
    store_url: str, reader_of: Callable[[str], Reader], recorders: Any
) -> None:
    reader = reader_of(store_url)
    live = recorders(store_url, "live")
    store = await started(store_url)
    try:
        assert store.interrupted == []
        assert reader.status(live.execution) == "running"
        live.kill()
        assert store._runners is not None and store._engine is not None
        found = await store._runners.sweep(store._engine)  # what its next heartbeat does
        assert found == [Interrupted(live.execution, "victim")]
        assert reader.status(live.execution) == "interrupted"
    finally:
        await store.aclose()


async def test_a_runner_elsewhere_is_taken_for_gone_once_its_heartbeat_is_stale(
    store_url: str, reader_of: Callable[[str], Reader]
) -> None:
    """On another machine its process cannot be looked at: only the heartbeat tells."""
    reader = reader_of(store_url)
    await (await started(store_url)).aclose()  # the schema
    elsewhere = "other-boot-id/4026531836/1/12345"
    reader.rows(
        "INSERT INTO weir_runners (id, host, pid, process, started_at, heartbeat_at) "
        "VALUES ('elsewhere', 'other-host', 1, ?, ?, ?)",
        elsewhere,
        time.time() - 100,
        time.time() - 2,
    )
    execution_id = orphan(reader, "elsewhere")
    store = await started(store_url, stale_after=10.0)
    try:
        assert store.interrupted == [] and reader.status(execution_id) == "running"
        reader.rows("UPDATE weir_runners SET heartbeat_at = ?", time.time() - 11)
        store._commits.tick_every_from_now(0.1)  # heartbeats (and sweeps) every 100 ms
        await wait_for(lambda: reader.status(execution_id) == "interrupted")
        assert store.interrupted == [Interrupted(execution_id, "orphaned")]
        assert reader.rows("SELECT id FROM weir_runners") == []
    finally:
        await store.aclose()


async def test_a_runner_registers_with_its_first_records_heartbeats_and_leaves_on_close(
    store_url: str, reader_of: Callable[[str], Reader]
) -> None:
    reader = reader_of(store_url)
    store = await started(store_url)
    me = store.identity.id
    try:
        assert reader.rows("SELECT id FROM weir_runners") == []  # reading makes no runner
        store._commits.tick_every_from_now(0.1)
        await record_running(store)
        ((first,),) = reader.rows("SELECT heartbeat_at FROM weir_runners WHERE id = ?", me)
        assert reader.rows("SELECT runner FROM weir_executions") == [(me,)]
        await wait_for(lambda: _heartbeat(reader, me) > first)

        reader.rows("DELETE FROM weir_runners")  # as a sweep that took it for gone would
        await wait_for(lambda: _heartbeat(reader, me) > 0)
    finally:
        await store.aclose()
    assert reader.rows("SELECT id FROM weir_runners") == []


def _heartbeat(reader: Reader, runner: str) -> float:
    found = reader.rows("SELECT heartbeat_at FROM weir_runners WHERE id = ?", runner)
    return float(found[0][0]) if found else 0.0


async def test_an_outcome_written_after_a_wrong_mark_replaces_it(
    store_url: str, reader_of: Callable[[str], Reader]
) -> None:
    """A runner cut off from the store for too long is taken for gone, though it lives on."""
    reader = reader_of(store_url)
    store = await started(store_url)
    try:
        record = await record_running(store)
        reader.rows("DELETE FROM weir_runners")
        other = await started(store_url)
        await other.aclose()
        assert reader.status(record.id) == "interrupted"
        record.status, record.finished_at = Status.SUCCEEDED, time.time()
        store.record_execution(record)
        await store.flush()
        assert reader.status(record.id) == "succeeded"
    finally:
        await store.aclose()


async def test_stores_starting_at_once_mark_each_execution_once(
    store_url: str, reader_of: Callable[[str], Reader]
) -> None:
    reader = reader_of(store_url)
    await (await started(store_url)).aclose()
    orphans = {orphan(reader, None) for _ in range(50)}
    stores = await asyncio.gather(*(started(store_url) for _ in range(4)))
    try:
        marked = [item.id for store in stores for item in store.interrupted]
        assert sorted(marked) == sorted(orphans)
        running = reader.rows("SELECT COUNT(*) FROM weir_executions WHERE status = 'running'")
        assert running == [(0,)]
    finally:
        for store in stores:
            await store.aclose()


async def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.05)
