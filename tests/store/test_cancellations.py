"""Cancel requests: recorded for a running execution and answered with the runner holding it,
listed for that runner until the execution ends or the request is cleared; asking keeps a
remote runner alive, whose executions a console marks interrupted only once it went quiet."""

from __future__ import annotations

import dataclasses

import pytest

from tests.store.builders import execution
from tests.store.conftest import Reader
from weir.store import open_store
from weir.store.sql import SqlExecutionStore
from weir.store.wire import execution_from_wire, execution_to_wire


async def test_a_cancel_request_names_the_runner_and_waits_for_it(
    store: SqlExecutionStore,
) -> None:
    mine, theirs, done = execution(status="running"), execution(status="running"), execution()
    store.record_execution(mine)
    store.record_execution(done)
    await store.flush()
    remote = execution_from_wire(execution_to_wire(theirs, []))
    await store.ingest([remote], runner="runner-b")

    assert await store.request_cancel(mine.id) == store.identity.id
    assert await store.request_cancel(theirs.id) == "runner-b"
    assert await store.request_cancel(theirs.id) == "runner-b"  # asked twice: one request
    assert await store.request_cancel(done.id) is None
    assert await store.request_cancel("unknown") is None
    assert await store.cancellations("runner-b") == [theirs.id]
    assert await store.cancellations(store.identity.id) == [mine.id]
    assert await store.cancellations("runner-c") == []

    await store.clear_cancellation(mine.id)
    assert await store.cancellations(store.identity.id) == []
    ended = dataclasses.replace(theirs, status="cancelled", finished_at=2e9)
    await store.ingest([execution_from_wire(execution_to_wire(ended, []))], runner="runner-b")
    assert await store.cancellations("runner-b") == []  # it ended: no longer asked for


async def test_a_remote_runner_stays_alive_while_it_asks_and_is_swept_once_quiet(
    store_url: str, reader_of: type[Reader], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("weir.store.runners.REMOTE_STALE_AFTER", 0.5)
    store = open_store(store_url)
    await store.start()
    try:
        assert store._runners is not None
        theirs = execution(status="running")
        await store.ingest([execution_from_wire(execution_to_wire(theirs, []))], runner="r-b")
        assert await store._runners.sweep(store._engine) == []  # type: ignore[arg-type]
        reader = reader_of(store_url)
        reader.rows("UPDATE weir_runners SET heartbeat_at = heartbeat_at - 100 WHERE id = 'r-b'")
        await store.cancellations("r-b")  # refreshes the heartbeat
        assert await store._runners.sweep(store._engine) == []  # type: ignore[arg-type]
        reader.rows("UPDATE weir_runners SET heartbeat_at = heartbeat_at - 100 WHERE id = 'r-b'")
        swept = await store._runners.sweep(store._engine)  # type: ignore[arg-type]
        assert [item.id for item in swept] == [theirs.id]
    finally:
        await store.aclose()


async def test_executions_ingested_without_a_runner_are_held_by_the_store_itself(
    store: SqlExecutionStore, store_url: str, reader_of: type[Reader]
) -> None:
    theirs = execution(status="running")
    await store.ingest([execution_from_wire(execution_to_wire(theirs, []))])
    assert await store.request_cancel(theirs.id) == store.identity.id
    reader = reader_of(store_url)
    query = "SELECT COUNT(*) FROM weir_runners WHERE id = ?"
    assert reader.rows(query, store.identity.id) == [(1,)]  # its heartbeat keeps them running
    assert store._runners is not None and store._runners.registered
