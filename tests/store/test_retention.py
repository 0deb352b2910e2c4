"""Pruning: by age and by a count per flow, in batches of ids, never a running execution,
never one not yet shipped to the target named, with its node runs and cancel requests; the
event log is trimmed to what the executions kept (and the unshipped changes) need."""

from __future__ import annotations

import time

import pytest

from tests.store.builders import execution, node
from tests.store.conftest import Reader
from weir.store.records import ExecutionRecord
from weir.store.sql import SqlExecutionStore


async def recorded(store: SqlExecutionStore, *records: ExecutionRecord) -> None:
    for record in records:
        store.record_execution(record)
        store.record_node(node(record, 1))
    await store.flush()


async def remaining(store: SqlExecutionStore) -> set[str]:
    return {r.id for r in await store.list_executions(limit=10_000)}


async def test_prune_by_age_never_deletes_a_running_execution(
    store: SqlExecutionStore, store_url: str, reader_of: type[Reader]
) -> None:
    now = time.time()
    old, old_running, new = (
        execution(started_at=now - 7200),
        execution(started_at=now - 7200, status="running"),
        execution(started_at=now - 60),
    )
    await recorded(store, old, old_running, new)
    assert await store.prune(max_age=3600, max_per_flow=None) == 1
    assert await remaining(store) == {old_running.id, new.id}
    reader = reader_of(store_url)
    assert reader.node_count(old.id) == 0 and reader.node_count(new.id) == 1


async def test_prune_keeps_the_newest_per_flow(store: SqlExecutionStore) -> None:
    orders = [execution(flow="orders") for _ in range(5)]
    billing = [execution(flow="billing") for _ in range(2)]
    elsewhere = [execution(flow="orders", namespace="other")]
    running = execution(flow="orders", status="running", started_at=1.0)  # the oldest
    await recorded(store, *orders, *billing, *elsewhere, running)
    assert await store.prune(max_age=None, max_per_flow=2) == 3
    assert await remaining(store) == {
        *(r.id for r in orders[-2:]),
        *(r.id for r in billing),
        elsewhere[0].id,
        running.id,
    }
    assert await store.prune(max_age=None, max_per_flow=0) == 5
    assert await remaining(store) == {running.id}


async def test_prune_in_batches_deletes_many(
    store: SqlExecutionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("weir.store.retention.BATCH", 7)
    await recorded(store, *(execution(started_at=float(i)) for i in range(1, 40)))
    assert await store.prune(max_age=0, max_per_flow=None) == 39
    assert await remaining(store) == set()


async def test_prune_never_deletes_an_execution_not_yet_shipped(
    store: SqlExecutionStore,
) -> None:
    shipped, unshipped = execution(started_at=1.0), execution(started_at=2.0)
    await recorded(store, shipped)
    await store.mark_shipped("console", await store.last_event_seq())
    await recorded(store, unshipped)
    assert await store.prune(max_age=0, max_per_flow=None, keep_unshipped="console") == 1
    assert await remaining(store) == {unshipped.id}
    items, _ = await store.outbox("console")
    assert [r.id for r, _ in items] == [unshipped.id]
    # Never shipped anywhere: nothing is shipped to a target without a cursor.
    assert await store.prune(max_age=0, max_per_flow=None, keep_unshipped="new") == 0


async def test_the_event_log_keeps_what_the_executions_kept_and_unshipped_changes_need(
    store: SqlExecutionStore,
) -> None:
    old, new = execution(started_at=1.0), execution(started_at=time.time())
    await recorded(store, old)
    old_events = await store.events_after(0)
    await recorded(store, new)
    await store.mark_shipped("console", old_events[0].seq)  # one of old's two events shipped
    assert await store.prune(max_age=3600, max_per_flow=None, keep_unshipped="console") == 0
    assert [e.execution_id for e in await store.events_after(0)] == [old.id] * 2 + [new.id] * 2
    await store.mark_shipped("console", await store.last_event_seq())
    assert await store.prune(max_age=3600, max_per_flow=None, keep_unshipped="console") == 1
    assert {e.execution_id for e in await store.events_after(0)} == {new.id}
    await store.prune(max_age=0, max_per_flow=None)
    assert await store.events_after(0) == []
    seq = await store.last_event_seq()
    await recorded(store, execution())
    assert (await store.events_after(0))[0].seq > seq  # numbers are never handed out twice


async def test_cancel_requests_of_pruned_executions_go_with_them(
    store: SqlExecutionStore, store_url: str, reader_of: type[Reader]
) -> None:
    record = execution(status="running", started_at=1.0)
    await recorded(store, record)
    assert await store.request_cancel(record.id) == store.identity.id
    store.record_execution(execution(status="failed", started_at=1.0, id=record.id))
    await store.flush()
    assert await store.prune(max_age=0, max_per_flow=None) == 1
    assert reader_of(store_url).rows("SELECT COUNT(*) FROM weir_cancellations") == [(0,)]


@pytest.mark.parametrize(
    ("max_age", "max_per_flow", "named"),
    [(-1.0, None, "max_age"), (None, -1, "max_per_flow"), (None, 1.5, "max_per_flow")],
)
async def test_bad_limits_are_refused(
    store: SqlExecutionStore, max_age: float | None, max_per_flow: int | None, named: str
) -> None:
    with pytest.raises(ValueError, match=named):
        await store.prune(max_age=max_age, max_per_flow=max_per_flow)  # type: ignore[arg-type]
