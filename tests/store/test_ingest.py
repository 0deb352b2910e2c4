"""Ingest, the console's side of shipping: idempotent by execution id and node seq, never
taking an execution back (a late 'running' does not replace 'succeeded'; a sweep's
'interrupted' does not replace a real outcome, which replaces it), events only for what
changed, and the shipping runner as the one that holds the execution."""

from __future__ import annotations

import dataclasses

import pytest

from tests.store.builders import execution, node
from tests.store.conftest import Reader
from weir.store.records import ExecutionRecord, NodeRunRecord
from weir.store.sql import SqlExecutionStore
from weir.store.wire import execution_from_wire, execution_to_wire


def shipped(
    record: ExecutionRecord, *nodes: NodeRunRecord
) -> tuple[ExecutionRecord, list[NodeRunRecord]]:
    """Through the wire codec, as the console reads a runner's batch."""
    return execution_from_wire(execution_to_wire(record, list(nodes)))


async def test_the_same_batch_twice_is_one_execution_and_no_duplicate_events(
    store: SqlExecutionStore, store_url: str, reader_of: type[Reader]
) -> None:
    record = execution(namespace="team-a", payload={"n": 1}, result={"ok": True})
    batch = [shipped(record, node(record, 1), node(record, 2))]
    assert await store.ingest(batch, runner="runner-1") == 1
    first = await store.events_after(0)
    assert await store.ingest(batch, runner="runner-1") == 0
    assert await store.events_after(0) == first
    assert [(e.type, e.node_seq) for e in first] == [("node", 1), ("node", 2), ("execution", None)]
    assert {(e.flow, e.namespace) for e in first} == {("orders", "team-a")}
    found = await store.get_execution(record.id)
    assert found is not None
    assert found[0] == record and [n.seq for n in found[1]] == [1, 2]
    reader = reader_of(store_url)
    assert reader.rows("SELECT COUNT(*) FROM weir_executions") == [(1,)]
    assert reader.rows("SELECT runner FROM weir_executions") == [("runner-1",)]


async def test_a_late_running_snapshot_never_overwrites_succeeded(
    store: SqlExecutionStore,
) -> None:
    running = execution(status="running")
    finished = dataclasses.replace(running, status="succeeded", finished_at=running.started_at + 1)
    assert await store.ingest([shipped(finished, node(finished, 1))]) == 1
    # The running snapshot of a retried old batch, with a node the console has not seen.
    assert await store.ingest([shipped(running, node(running, 1), node(running, 2))]) == 1
    found = await store.get_execution(running.id)
    assert found is not None and found[0].status == "succeeded"
    assert [n.seq for n in found[1]] == [1, 2]
    assert [(e.type, e.status) for e in await store.events_after(0)][-1] == ("node", "succeeded")


async def test_a_running_execution_advances_to_its_outcome_with_events_for_each_step(
    store: SqlExecutionStore,
) -> None:
    running = execution(status="running")
    assert await store.ingest([shipped(running)]) == 1
    assert await store.ingest([shipped(running, node(running, 1))]) == 1
    finished = dataclasses.replace(
        running, status="failed", finished_at=running.started_at + 2, error={"type": "http"}
    )
    assert await store.ingest([shipped(finished, node(running, 1), node(running, 2))]) == 1
    assert [(e.type, e.status, e.node_seq) for e in await store.events_after(0)] == [
        ("execution", "running", None),
        ("node", "succeeded", 1),
        ("node", "succeeded", 2),
        ("execution", "failed", None),
    ]
    found = await store.get_execution(running.id)
    assert found is not None and found[0].error_type == "http"


async def test_interrupted_never_replaces_an_outcome_and_an_outcome_replaces_it(
    store: SqlExecutionStore,
) -> None:
    record = execution(status="running")
    interrupted = dataclasses.replace(
        record, status="interrupted", finished_at=record.started_at + 1, error={"type": "x"}
    )
    succeeded = dataclasses.replace(record, status="succeeded", finished_at=record.started_at + 3)
    assert await store.ingest([shipped(interrupted)]) == 1
    assert await store.ingest([shipped(record)]) == 0  # never back to running
    assert await store.ingest([shipped(succeeded)]) == 1
    assert await store.ingest([shipped(interrupted)]) == 0
    found = await store.get_execution(record.id)
    assert found is not None and found[0].status == "succeeded"


async def test_one_batch_holding_two_snapshots_of_an_execution_keeps_the_later(
    store: SqlExecutionStore,
) -> None:
    running = execution(status="running")
    finished = dataclasses.replace(running, status="succeeded", finished_at=running.started_at + 1)
    assert await store.ingest([shipped(running), shipped(finished), shipped(running)]) == 1
    found = await store.get_execution(running.id)
    assert found is not None and found[0].status == "succeeded"
    assert [e.status for e in await store.events_after(0)] == ["running", "succeeded"]


async def test_ingest_keeps_the_namespace_shipped_and_counts_changes(
    store: SqlExecutionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "namespace", "console-home")
    records = [execution(namespace="a"), execution(namespace="")]
    assert await store.ingest([shipped(r) for r in records]) == 2
    assert [e.namespace for e in await store.events_after(0)] == ["a", ""]
    assert await store.ingest([]) == 0


async def test_a_runner_id_longer_than_the_column_is_refused(store: SqlExecutionStore) -> None:
    with pytest.raises(ValueError, match=r"runner: 'xxx.*1 to 32 characters"):
        await store.ingest([shipped(execution())], runner="x" * 33)
