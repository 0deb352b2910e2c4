"""The outbox: executions touched since a target's cursor, whole and in the order first
touched, the last event they cover, a cursor that only moves forward, per target, and the
backlog; a runner's outbox shipped into a console store arrives once, whole."""

from __future__ import annotations

import dataclasses

import pytest

from tests.store.builders import execution, node
from weir.store import open_store
from weir.store.sql import SqlExecutionStore


async def test_the_outbox_hands_over_whole_executions_and_moves_with_its_cursor(
    store: SqlExecutionStore,
) -> None:
    first, second, third = execution(status="running"), execution(), execution()
    store.record_execution(first)
    store.record_node(node(first, 1))
    store.record_execution(second)
    store.record_execution(third)
    await store.flush()
    assert await store.backlog("console") == 4

    items, seq = await store.outbox("console", limit=2)
    assert [(r.id, [n.seq for n in nodes]) for r, nodes in items] == [
        (first.id, [1]),
        (second.id, []),
    ]
    assert seq == (await store.events_after(0))[2].seq  # running, node 1, second
    await store.mark_shipped("console", seq)
    assert await store.backlog("console") == 1
    assert await store.backlog("elsewhere") == 4  # a cursor per target

    store.record_node(node(first, 2))
    store.record_execution(dataclasses.replace(first, status="succeeded", finished_at=2e9))
    await store.flush()
    items, seq = await store.outbox("console")
    assert [r.id for r, _ in items] == [third.id, first.id]
    assert items[1][0].status == "succeeded" and [n.seq for n in items[1][1]] == [1, 2]
    await store.mark_shipped("console", seq)
    assert await store.backlog("console") == 0
    assert await store.outbox("console") == ([], seq)


async def test_the_cursor_never_moves_back(store: SqlExecutionStore) -> None:
    for _ in range(3):
        store.record_execution(execution())
    await store.flush()
    last = await store.last_event_seq()
    await store.mark_shipped("console", last)
    await store.mark_shipped("console", last - 2)  # a late acknowledgement
    assert await store.backlog("console") == 0
    with pytest.raises(ValueError, match="target"):
        await store.mark_shipped("", 1)
    with pytest.raises(ValueError, match="seq"):
        await store.mark_shipped("console", -1)


async def test_an_outbox_of_many_changes_is_read_in_bounded_batches(
    store: SqlExecutionStore,
) -> None:
    records = [execution(status="running") for _ in range(1200)]
    for record in records:
        store.record_execution(record)
    await store.flush()
    shipped: list[str] = []
    while True:
        items, seq = await store.outbox("console", limit=500)
        if not items:
            break
        assert len(items) <= 500
        shipped.extend(r.id for r, _ in items)
        await store.mark_shipped("console", seq)
    assert shipped == [r.id for r in records]


async def test_a_pruned_execution_is_left_out_and_its_events_still_covered(
    store: SqlExecutionStore,
) -> None:
    gone, kept = execution(started_at=1.0), execution()
    store.record_execution(gone)
    store.record_execution(kept)
    await store.flush()
    await store.prune(max_age=None, max_per_flow=1)
    items, seq = await store.outbox("console")
    assert [r.id for r, _ in items] == [kept.id] and seq == await store.last_event_seq()


async def test_shipping_a_runner_store_into_a_console_store_arrives_once(
    store_url: str, tmp_path: object
) -> None:
    runner = open_store(f"sqlite:///{tmp_path}/runner.db")
    console = open_store(store_url)
    await runner.start()
    await console.start()
    try:
        record = execution(status="running")
        runner.record_execution(record)
        runner.record_node(node(record, 1))
        await runner.flush()
        items, seq = await runner.outbox("console")
        assert await console.ingest(items, runner=runner.identity.id) == 1
        assert await console.ingest(items, runner=runner.identity.id) == 0  # a resend
        await runner.mark_shipped("console", seq)
        runner.record_execution(dataclasses.replace(record, status="succeeded", finished_at=2e9))
        await runner.flush()
        items, seq = await runner.outbox("console")
        assert await console.ingest(items, runner=runner.identity.id) == 1
        found = await console.get_execution(record.id)
        assert found is not None and found[0].status == "succeeded" and len(found[1]) == 1
        assert [(e.type, e.status) for e in await console.events_after(0)] == [
            ("execution", "running"),
            ("node", "succeeded"),
            ("execution", "succeeded"),
        ]
    finally:
        await runner.aclose()
        await console.aclose()
