"""The event log: recording appends one event per execution snapshot written and one per node
run, in the transaction that writes them and in the order they were recorded; the namespace is
stamped from WEIR_NAMESPACE unless the record carries one; executions marked interrupted get
an event too; readers filter by execution, flow and namespaces."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest

from tests.store.builders import execution, node
from weir.store import open_store
from weir.store.sql import SqlExecutionStore


@pytest.fixture
async def store(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[SqlExecutionStore]:
    monkeypatch.setenv("WEIR_NAMESPACE", "team-a")
    opened = open_store(store_url)
    await opened.start()
    yield opened
    await opened.aclose()


async def test_recording_appends_events_in_the_order_recorded(store: SqlExecutionStore) -> None:
    record = execution(status="running")
    store.record_execution(record)
    await store.flush()
    store.record_node(node(record, 1))
    store.record_node(node(record, 2, name="send"))
    record.status, record.finished_at = "failed", record.started_at + 1
    record.error = {"type": "timeout", "message": "too slow"}
    store.record_execution(record)
    await store.flush()

    found = await store.events_after(0)
    assert [(e.type, e.status, e.node, e.node_seq) for e in found] == [
        ("execution", "running", None, None),
        ("node", "succeeded", "shape", 1),
        ("node", "succeeded", "send", 2),
        ("execution", "failed", None, None),
    ]
    assert {(e.execution_id, e.flow, e.namespace) for e in found} == {
        (record.id, "orders", "team-a")
    }
    assert [e.seq for e in found] == sorted({e.seq for e in found})
    assert found[0].at == record.started_at and found[-1].at == record.finished_at
    assert await store.last_event_seq() == found[-1].seq
    stored = await store.get_execution(record.id)
    assert stored is not None and stored[0].namespace == "team-a"
    assert stored[0].error_type == "timeout"


async def test_a_batch_writes_one_event_for_the_last_snapshot_of_each_execution(
    store: SqlExecutionStore,
) -> None:
    record = execution(status="running")
    store.record_execution(record)  # no flush: the same batch as the outcome
    store.record_node(node(record, 1))
    store.record_execution(dataclasses.replace(record, status="succeeded", finished_at=2e9))
    await store.flush()
    found = await store.events_after(0)
    assert [(e.type, e.status) for e in found] == [
        ("node", "succeeded"),
        ("execution", "succeeded"),
    ]


async def test_a_record_carrying_a_namespace_keeps_it(store: SqlExecutionStore) -> None:
    store.record_execution(execution(namespace="team-b"))
    await store.flush()
    (event,) = await store.events_after(0)
    assert event.namespace == "team-b"


async def test_later_batches_give_events_the_flow_and_namespace_of_their_execution(
    store: SqlExecutionStore, store_url: str
) -> None:
    """A SQLite store writes them from what it learnt of the execution; one that never saw
    it (another runner's, or after a restart) reads them from the execution's row."""
    record = execution(status="running", namespace="team-b")
    store.record_execution(record)
    await store.flush()
    store.record_node(node(record, 1))  # a batch without the execution's snapshot
    await store.flush()
    other = open_store(store_url)  # knows nothing of the execution
    await other.start()
    other.record_node(node(record, 2, name="send"))
    await other.flush()
    await other.aclose()
    store.record_execution(dataclasses.replace(record, status="succeeded", finished_at=2e9))
    await store.flush()
    found = await store.events_after(0)
    assert [(e.type, e.node_seq, e.flow, e.namespace) for e in found] == [
        ("execution", None, "orders", "team-b"),
        ("node", 1, "orders", "team-b"),
        ("node", 2, "orders", "team-b"),
        ("execution", None, "orders", "team-b"),
    ]


async def test_events_are_read_after_a_number_and_filtered(store: SqlExecutionStore) -> None:
    first, second, third = (
        execution(flow="a", namespace="x"),
        execution(flow="b", namespace="y"),
        execution(flow="a", namespace="z"),
    )
    for record in (first, second, third):
        store.record_execution(record)
    await store.flush()
    everything = await store.events_after(0)
    assert [e.execution_id for e in everything] == [first.id, second.id, third.id]
    assert [e.execution_id for e in await store.events_after(everything[0].seq)] == [
        second.id,
        third.id,
    ]
    assert [e.execution_id for e in await store.events_after(0, flow="a")] == [first.id, third.id]
    assert [e.execution_id for e in await store.events_after(0, namespace="y")] == [second.id]
    allowed = frozenset({"x", "y"})
    assert [e.execution_id for e in await store.events_after(0, namespaces=allowed)] == [
        first.id,
        second.id,
    ]
    assert await store.events_after(0, namespaces=frozenset()) == []
    assert [e.execution_id for e in await store.events_after(0, execution_id=third.id)] == [
        third.id
    ]
    assert len(await store.events_after(0, limit=2)) == 2
    assert await store.events_after(everything[-1].seq) == []


async def test_an_empty_store_has_no_events(store: SqlExecutionStore) -> None:
    assert await store.last_event_seq() == 0
    assert await store.events_after(0) == []


async def test_a_node_run_is_read_with_its_payloads(store: SqlExecutionStore) -> None:
    record = execution()
    store.record_execution(record)
    store.record_node(node(record, 1, output={"deep": [1, 2]}))
    await store.flush()
    found = await store.get_node_run(record.id, 1)
    assert found is not None and found.output == {"deep": [1, 2]} and found.input == {"seq": 1}
    assert await store.get_node_run(record.id, 2) is None
    assert await store.get_node_run("unknown", 1) is None


async def test_an_execution_marked_interrupted_gets_an_event(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = open_store(store_url)
    gone.stale_after = 0.0  # any runner but the sweeping one is taken for gone at once
    await gone.start()
    left = execution(status="running")
    gone.record_execution(left)
    await gone.flush()
    gone._commits.close()  # as if killed: the row and the running execution stay behind
    await gone._writer  # type: ignore[misc]
    gone._writer = None
    await gone.aclose()

    sweeping = open_store(store_url)
    sweeping.stale_after = 0.0
    await sweeping.start()
    try:
        assert [i.id for i in sweeping.interrupted] == [left.id]
        last = (await sweeping.events_after(0))[-1]
        assert (last.execution_id, last.type, last.status) == (left.id, "execution", "interrupted")
        found = await sweeping.get_execution(left.id)
        assert found is not None and found[0].error_type == "interrupted"
    finally:
        await sweeping.aclose()
