"""Group commit: a waiter is released only once the batch holding its records committed (seen
from a second connection at that very moment), batches grow with concurrent load, a store
that cannot commit holds its waiters and then says so, and the service a trigger calls waits
for the record under ``recording: sync`` and not under ``recording: async``."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.store.conftest import Reader
from weir.engine.executor import Engine, TriggerEvent
from weir.engine.metrics import RunnerMetrics
from weir.engine.service import FlowService
from weir.store import RecordingUnavailable, open_store
from weir.store.records import ExecutionRecord, NodeRunRecord
from weir.store.sql import SqlExecutionStore

FLOW = """
apiVersion: weir.dev/v1alpha1
kind: Flow
metadata: {name: recorded}
spec:
  trigger: {manual: {}}
  recording: MODE
  nodes:
    - name: shape
      transform: {merge: [$.input, {seen: true}]}
"""


def service(
    store: SqlExecutionStore, where: Path, mode: str, record_wait: float = 10.0
) -> FlowService:
    """What `weir serve` hands a trigger: the flow's revision, run and recorded."""
    path = where / f"{mode}.yaml"
    path.write_text(FLOW.replace("MODE", mode))
    return FlowService(path, Engine(store=store), RunnerMetrics(), record_wait=record_wait)


def record_one(store: SqlExecutionStore) -> str:
    """What a one-node execution records: running, its node run, its outcome."""
    now = time.time()
    record = ExecutionRecord(
        uuid.uuid4().hex[:26], "recorded", "r1", "manual", {"payload": {}}, "running", now
    )
    store.record_execution(record)
    store.record_node(
        NodeRunRecord(record.id, 1, "shape", "transform", "succeeded", now, now, [], {}, {})
    )
    record.status, record.finished_at = "succeeded", time.time()
    store.record_execution(record)
    return record.id


async def test_each_waiter_is_released_once_its_batch_committed(
    store: SqlExecutionStore, store_url: str, reader_of: Callable[[str], Reader]
) -> None:
    reader = reader_of(store_url)
    seen: dict[str, tuple[str | None, int]] = {}
    executions = 200

    async def execution() -> None:
        await asyncio.sleep(random.uniform(0, 0.05))  # arrivals spread over 50 ms
        execution_id = record_one(store)
        await store.durable()
        # Nothing runs between the release and this read: what it sees was committed before.
        seen[execution_id] = (reader.status(execution_id), reader.node_count(execution_id))

    before = store.batches_written
    await asyncio.gather(*(execution() for _ in range(executions)))
    batches = store.batches_written - before

    assert len(seen) == executions
    assert set(seen.values()) == {("succeeded", 1)}
    assert batches < executions, "every execution had a transaction of its own: no grouping"


async def test_records_arriving_together_share_one_transaction(store: SqlExecutionStore) -> None:
    before = store.batches_written
    ids = [record_one(store) for _ in range(100)]  # 300 records, under one batch's 500
    await store.durable()
    assert store.batches_written - before == 1
    assert len(ids) == len(set(ids))


async def test_a_waiter_is_held_while_the_store_cannot_commit(
    store: SqlExecutionStore, store_url: str, reader_of: Callable[[str], Reader]
) -> None:
    blocker, reader = reader_of(store_url), reader_of(store_url)
    with blocker.write_lock_held():
        execution_id = record_one(store)
        waiter = asyncio.get_running_loop().create_task(store.durable())
        await asyncio.sleep(0.5)
        assert not waiter.done()
        assert reader.status(execution_id) is None
    await asyncio.wait_for(waiter, 10)
    assert reader.status(execution_id) == "succeeded"


async def test_a_waiter_gives_up_after_its_bound_and_the_records_are_written_later(
    store: SqlExecutionStore, store_url: str, reader_of: Callable[[str], Reader]
) -> None:
    blocker, reader = reader_of(store_url), reader_of(store_url)
    with blocker.write_lock_held():
        execution_id = record_one(store)
        with pytest.raises(RecordingUnavailable, match=r"did not commit within 0\.3s"):
            await store.durable(0.3)
    await asyncio.wait_for(store.flush(), 15)
    assert reader.status(execution_id) == "succeeded"


async def test_a_cancelled_waiter_leaves_the_others_waiting_for_the_same_batch(
    store: SqlExecutionStore, store_url: str, reader_of: Callable[[str], Reader]
) -> None:
    blocker, reader = reader_of(store_url), reader_of(store_url)
    with blocker.write_lock_held():
        execution_id = record_one(store)
        loop = asyncio.get_running_loop()
        cancelled, other = loop.create_task(store.durable(10)), loop.create_task(store.durable(10))
        await asyncio.sleep(0.2)
        cancelled.cancel()
        await asyncio.sleep(0.2)
        assert cancelled.cancelled() and not other.done()
    await asyncio.wait_for(other, 10)
    assert reader.status(execution_id) == "succeeded"


async def test_sync_recording_returns_after_the_commit_and_async_at_once(
    store: SqlExecutionStore,
    store_url: str,
    reader_of: Callable[[str], Reader],
    tmp_path: Path,
) -> None:
    blocker, reader = reader_of(store_url), reader_of(store_url)
    event = TriggerEvent(payload={"n": 1})
    with blocker.write_lock_held():
        unrecorded = await asyncio.wait_for(service(store, tmp_path, "async").execute(event), 5)
        assert unrecorded.ok and reader.status(unrecorded.id) is None
        recorded = asyncio.ensure_future(service(store, tmp_path, "sync").execute(event))
        await asyncio.sleep(0.5)
        assert not recorded.done()
    result = await asyncio.wait_for(recorded, 10)
    assert result.ok and reader.status(result.id) == "succeeded"
    assert reader.node_count(result.id) == 1


async def test_an_execution_whose_record_cannot_be_committed_in_time_says_which_it_is(
    store: SqlExecutionStore,
    store_url: str,
    reader_of: Callable[[str], Reader],
    tmp_path: Path,
) -> None:
    blocker, reader = reader_of(store_url), reader_of(store_url)
    with blocker.write_lock_held(), pytest.raises(RecordingUnavailable) as raised:
        await service(store, tmp_path, "sync", record_wait=0.3).execute(TriggerEvent(payload={}))
    execution_id = raised.value.execution_id
    assert execution_id is not None
    await asyncio.wait_for(store.flush(), 15)
    assert reader.status(execution_id) == "succeeded"


async def test_the_engine_alone_does_not_wait(
    store: SqlExecutionStore, store_url: str, reader_of: Callable[[str], Reader], tmp_path: Path
) -> None:
    """`weir run` waits for its records when it closes the store, and says if they are lost."""
    blocker, reader = reader_of(store_url), reader_of(store_url)
    engine = service(store, tmp_path, "sync").engine
    with blocker.write_lock_held():
        result = await asyncio.wait_for(
            engine.execute(engine_flow(tmp_path), TriggerEvent(payload={})), 5
        )
        assert reader.status(result.id) is None
    await asyncio.wait_for(store.flush(), 15)
    assert reader.status(result.id) == "succeeded"


def engine_flow(where: Path) -> Any:
    from weir.flow.load import load_flow_file

    return load_flow_file(where / "sync.yaml")


async def test_closing_releases_waiters_of_records_it_could_not_write(
    tmp_path: Any, reader_of: Callable[[str], Reader]
) -> None:
    url = f"sqlite:///{tmp_path}/closing.db"
    store = open_store(url)
    await store.start()
    with reader_of(url).write_lock_held():
        record_one(store)
        waiter = asyncio.get_running_loop().create_task(store.durable())
        await store.aclose(timeout=0.3)
        with pytest.raises(RecordingUnavailable, match="closed before 3 records"):
            await asyncio.wait_for(waiter, 10)
        assert store.lost == 3
