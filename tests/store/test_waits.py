"""The waits of parked executions on SQLite and PostgreSQL: a wait is written with its node run,
comes due only once its execution is recorded waiting, is claimed by exactly one of several
stores racing for it, resolves once (a repeat gets AlreadyResolved with the first result), is
cancelled with its execution, and a claim of a runner that died is taken back."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from tests.store.conftest import Reader
from weir.nodes.suspend import WaitRequest
from weir.store import open_store
from weir.store.records import ExecutionRecord, NodeRunRecord, Status
from weir.store.sql import SqlExecutionStore
from weir.store.wait_writes import Closed, Parked, Resolved, Resumed
from weir.store.waits import AlreadyResolved, UnknownWait


def park(
    store: SqlExecutionStore,
    *,
    kind: str = "timer",
    due: float | None = None,
    waiting: bool = True,
    flow: str = "napper",
    wait_id: str | None = None,
) -> tuple[ExecutionRecord, WaitRequest]:
    now = time.time()
    record = ExecutionRecord(uuid.uuid4().hex[:26], flow, "r1", "manual", {}, "running", now)
    store.record_execution(record)
    node = NodeRunRecord(record.id, 1, "nap", "sleep", Status.WAITING, now, now)
    request = WaitRequest(kind, due_at=now - 1 if due is None else due)  # type: ignore[arg-type]
    if wait_id is not None:
        request.id = wait_id
    store.record_wait(Parked(node, request))
    if waiting:
        record.status = Status.WAITING
        store.record_execution(record)
    return record, request


async def test_a_wait_is_due_only_once_its_execution_waits(store: SqlExecutionStore) -> None:
    record, request = park(store, waiting=False)
    await store.flush()
    waits = store.waits()
    assert await waits.due() == []
    record.status = Status.WAITING
    store.record_execution(record)
    await store.flush()
    [due] = await waits.due()
    assert (due.id, due.execution_id, due.node, due.seq, due.state) == (
        request.id,
        record.id,
        "nap",
        1,
        "pending",
    )
    assert await waits.due(flows=["other"]) == []
    assert [w.id for w in await waits.due(flows=["napper"])] == [request.id]


async def test_a_timer_not_due_yet_is_not_claimed(store: SqlExecutionStore) -> None:
    record, request = park(store, due=time.time() + 60)
    await store.flush()
    waits = store.waits()
    assert await waits.due() == []
    assert [w.id for w in await waits.due(within=120)] == [request.id]
    assert await waits.claim(request.id, record.id) is None


async def test_a_claim_flips_the_execution_to_running_once(
    store: SqlExecutionStore, store_url: str, reader_of: Any
) -> None:
    record, request = park(store)
    await store.flush()
    claimed = await store.waits().claim(request.id, record.id)
    assert claimed is not None and claimed.state == "claimed" and claimed.fence == 1
    assert claimed.claimed_by == store.identity.id
    reader: Reader = reader_of(store_url)
    assert reader.status(record.id) == "running"
    assert await store.waits().claim(request.id, record.id) is None
    assert await store.waits().due() == []


async def test_stores_racing_for_the_same_waits_claim_each_once(store_url: str) -> None:
    stores = [open_store(store_url) for _ in range(3)]
    for opened in stores:
        await opened.start()
    try:
        parked = [park(stores[0]) for _ in range(20)]
        await stores[0].flush()

        async def claim_all(store: SqlExecutionStore) -> list[str]:
            won = []
            for record, request in parked:
                if await store.waits().claim(request.id, record.id) is not None:
                    won.append(request.id)
            return won

        results = await asyncio.gather(*(claim_all(s) for s in stores))
        claimed = [wait for won in results for wait in won]
        assert sorted(claimed) == sorted(request.id for _, request in parked)
    finally:
        for opened in stores:
            await opened.aclose()


async def test_two_waits_of_one_execution_are_resumed_one_at_a_time(
    store: SqlExecutionStore,
) -> None:
    record, first = park(store)
    second = WaitRequest("timer", due_at=time.time() - 1)
    node = NodeRunRecord(record.id, 2, "other", "sleep", Status.WAITING, time.time(), time.time())
    store.record_wait(Parked(node, second))
    await store.flush()
    waits = store.waits()
    assert len(await waits.due()) == 2
    assert await waits.claim(first.id, record.id) is not None
    # The execution runs (resuming the first): the second waits until it parks again.
    assert await waits.due() == []
    assert await waits.claim(second.id, record.id) is None


async def test_resolve_is_compare_and_set(store: SqlExecutionStore) -> None:
    _, request = park(store, kind="human", due=time.time() + 3600)
    await store.flush()
    waits = store.waits()
    resolved = await waits.resolve({"output": {"approved": True}}, "ana", wait_id=request.id)
    assert (resolved.state, resolved.result, resolved.resolved_by) == (
        "resolved",
        {"output": {"approved": True}},
        "ana",
    )
    with pytest.raises(AlreadyResolved) as repeat:
        await waits.resolve({"output": {"approved": False}}, "bob", wait_id=request.id)
    assert repeat.value.wait.result == {"output": {"approved": True}}
    assert repeat.value.wait.resolved_by == "ana"
    with pytest.raises(UnknownWait):
        await waits.resolve({"output": 1}, "ana", wait_id="nope")
    [due] = await waits.due()  # resolved: due at once, deadline or not
    assert due.id == request.id


async def test_resolve_by_token_hash(store: SqlExecutionStore) -> None:
    now = time.time()
    record = ExecutionRecord(uuid.uuid4().hex[:26], "f", "r1", "manual", {}, "waiting", now)
    store.record_execution(record)
    node = NodeRunRecord(record.id, 1, "ask", "wait", Status.WAITING, now, now)
    store.record_wait(Parked(node, WaitRequest("human", token_hash="ab" * 32)))
    await store.flush()
    resolved = await store.waits().resolve({"output": "yes"}, "url", token_hash="ab" * 32)
    assert resolved.execution_id == record.id


async def test_a_child_resolving_before_its_parent_parks_is_kept(
    store: SqlExecutionStore,
) -> None:
    wait_id = uuid.uuid4().hex[:26]
    execution_id = uuid.uuid4().hex[:26]
    store.record_wait(Resolved(wait_id, execution_id, "call", {"output": {"n": 1}}, "child"))
    await store.flush()
    record, _ = park(store, kind="child", due=None, wait_id=wait_id)
    await store.flush()
    [wait] = await store.waits().of_execution(record.id)
    assert (wait.id, wait.state, wait.result, wait.seq) == (
        wait_id,
        "resolved",
        {"output": {"n": 1}},
        1,
    )


async def test_resumed_updates_the_node_run_in_place(
    store: SqlExecutionStore, store_url: str, reader_of: Any
) -> None:
    record, request = park(store)
    await store.flush()
    claimed = await store.waits().claim(request.id, record.id)
    assert claimed is not None
    node = NodeRunRecord(record.id, 1, "nap", "sleep", Status.SUCCEEDED, time.time(), time.time())
    node.output = {"sleptUntil": "now"}
    store.record_wait(Resumed(node, request.id, claimed.fence, "resumed"))
    await store.flush()
    reader: Reader = reader_of(store_url)
    rows = reader.rows("SELECT seq, status FROM weir_node_runs WHERE execution_id = ?", record.id)
    assert rows == [(1, "succeeded")]
    [wait] = await store.waits().of_execution(record.id)
    assert wait.state == "resumed"


async def test_cancel_waits_cancels_a_waiting_execution_only(
    store: SqlExecutionStore, store_url: str, reader_of: Any
) -> None:
    record, request = park(store, kind="human", due=None)
    await store.flush()
    assert await store.waits().cancel_waits(record.id) is True
    reader: Reader = reader_of(store_url)
    assert reader.status(record.id) == "cancelled"
    [wait] = await store.waits().of_execution(record.id)
    assert wait.state == "cancelled"
    rows = reader.rows("SELECT status FROM weir_node_runs WHERE execution_id = ?", record.id)
    assert rows == [("cancelled",)]
    assert await store.waits().cancel_waits(record.id) is False
    with pytest.raises(AlreadyResolved):
        await store.waits().resolve({"output": 1}, "late", wait_id=request.id)


async def test_closed_voids_the_open_waits_of_an_execution_that_ended(
    store: SqlExecutionStore,
) -> None:
    record, _ = park(store, waiting=False)
    store.record_wait(Closed(record.id))  # the same batch: parked, then closed
    await store.flush()
    [wait] = await store.waits().of_execution(record.id)
    assert wait.state == "cancelled"


async def test_a_dead_runners_claim_is_taken_back(store_url: str, reader_of: Any) -> None:
    owner, claimer = open_store(store_url), open_store(store_url)
    await owner.start()
    await claimer.start()
    try:
        record, request = park(owner)
        await owner.flush()
        assert await claimer.waits().claim(request.id, record.id) is not None
        # The claimer dies: its runner row goes (what a sweep does to a dead runner).
        reader: Reader = reader_of(store_url)
        reader.rows("DELETE FROM weir_runners WHERE id = ?", claimer.identity.id)
        assert await owner._runners.sweep(owner._engine) == []  # type: ignore[union-attr,arg-type]
        assert reader.status(record.id) == "running"  # not interrupted: its claim is open
        assert await owner.waits().take_back() == [record.id]
        assert reader.status(record.id) == "waiting"
        [due] = await owner.waits().due()
        assert due.state == "pending"
        assert await owner.waits().claim(request.id, record.id) is not None
    finally:
        await owner.aclose()
        await claimer.aclose(timeout=1)


async def test_release_gives_a_claim_back(store: SqlExecutionStore) -> None:
    record, request = park(store)
    await store.flush()
    claimed = await store.waits().claim(request.id, record.id)
    assert claimed is not None
    assert await store.waits().release(claimed) is True
    assert await store.waits().release(claimed) is False
    assert [w.id for w in await store.waits().due()] == [request.id]


async def test_waiting_lists_and_counts(store: SqlExecutionStore) -> None:
    park(store, flow="a")
    park(store, flow="b", kind="human", due=None)
    await store.flush()
    waits = store.waits()
    assert len(await waits.waiting()) == 2
    assert [w.kind for w in await waits.waiting(flow="b")] == ["human"]
    assert await waits.count_waiting() == 2
    assert await waits.count_waiting(["a"]) == 1
    assert await waits.count_waiting([]) == 0


async def test_retention_keeps_waiting_executions_and_deletes_the_waits_of_pruned_ones(
    store: SqlExecutionStore, store_url: str, reader_of: Any
) -> None:
    record, _ = park(store, kind="human", due=None)
    await store.flush()
    assert await store.prune(max_age=0, max_per_flow=None) == 0
    assert await store.prune(max_age=None, max_per_flow=0) == 0
    assert await store.waits().cancel_waits(record.id)
    await asyncio.sleep(0.01)
    assert await store.prune(max_age=0, max_per_flow=None) == 1
    reader: Reader = reader_of(store_url)
    assert reader.rows("SELECT COUNT(*) FROM weir_waits")[0][0] == 0
