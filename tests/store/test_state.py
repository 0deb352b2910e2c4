"""The state keys in the execution store (SQLite and PostgreSQL): expiry on an injected clock,
SET clearing a TTL and INCREMENT keeping it, an increment that loses no count however many run
at once from two stores, delete, the sweep in batches, and a non-number refused by increment."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from weir.nodes.state_store import NotANumber
from weir.store import open_store
from weir.store.sql import SqlExecutionStore
from weir.store.state import SqlStateStore

NS = "flow:/counter"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def state(store: SqlExecutionStore, clock: Clock) -> SqlStateStore:
    keys = store.state()
    keys.clock = clock
    return keys


async def values(state: SqlStateStore, *keys: str) -> list[Any]:
    found = [await state.get(NS, key) for key in keys]
    return [None if entry is None else json.loads(entry.value) for entry in found]


async def test_set_get_and_delete(state: SqlStateStore) -> None:
    await state.set(NS, "a", json.dumps({"x": [1, "two"]}), None)
    assert await values(state, "a", "missing") == [{"x": [1, "two"]}, None]
    assert await state.delete(NS, "a") is True
    assert await state.delete(NS, "a") is False
    assert await values(state, "a") == [None]


async def test_an_expired_key_reads_as_missing_and_deletes_as_missing(
    state: SqlStateStore, clock: Clock
) -> None:
    entry = await state.set(NS, "a", "1", 10.0)
    assert entry.expires_at == clock.now + 10
    clock.now += 9.999
    assert await values(state, "a") == [1]
    clock.now += 0.001
    assert await values(state, "a") == [None]
    assert await state.delete(NS, "a") is False


async def test_set_without_a_ttl_clears_the_one_the_key_had(
    state: SqlStateStore, clock: Clock
) -> None:
    await state.set(NS, "a", "1", 10.0)
    await state.set(NS, "a", "2", None)
    clock.now += 1000
    found = await state.get(NS, "a")
    assert found is not None and found.value == "2" and found.expires_at is None


async def test_increment_starts_from_zero_and_keeps_the_ttl_of_a_live_key(
    state: SqlStateStore, clock: Clock
) -> None:
    first = await state.increment(NS, "n", 1, 60.0)
    assert (first.value, first.expires_at) == ("1", clock.now + 60)
    clock.now += 30
    second = await state.increment(NS, "n", 2, 5.0)  # a live key keeps its own expiry
    assert (json.loads(second.value), second.expires_at) == (3, first.expires_at)
    third = await state.increment(NS, "n", 0.5, None)
    assert json.loads(third.value) == 3.5 and third.expires_at == first.expires_at


async def test_increment_counts_an_expired_key_as_absent(
    state: SqlStateStore, clock: Clock
) -> None:
    await state.set(NS, "n", '"not a number"', 10.0)
    clock.now += 10
    renewed = await state.increment(NS, "n", 1, 20.0)
    assert (renewed.value, renewed.expires_at) == ("1", clock.now + 20)
    await state.set(NS, "m", "41", 10.0)
    clock.now += 10
    assert (await state.increment(NS, "m", 1, None)).value == "1"


async def test_increment_of_a_non_number_is_refused_and_leaves_it(state: SqlStateStore) -> None:
    await state.set(NS, "s", '{"a":1}', None)
    with pytest.raises(NotANumber) as caught:
        await state.increment(NS, "s", 1, None)
    assert json.loads(caught.value.value) == {"a": 1}
    assert await values(state, "s") == [{"a": 1}]


async def test_fifty_concurrent_increments_from_two_stores_count_fifty(
    store: SqlExecutionStore, store_url: str
) -> None:
    other = open_store(store_url)
    await other.start()
    try:
        mine, theirs = store.state(), other.state()
        done = await asyncio.gather(
            *((mine if i % 2 else theirs).increment(NS, "hits", 1, None) for i in range(50))
        )
        assert sorted(int(entry.value) for entry in done) == list(range(1, 51))
        assert await values(mine, "hits") == [50]
    finally:
        await other.aclose()


async def test_namespaces_keep_their_own_keys(state: SqlStateStore) -> None:
    await state.set("flow:/a", "k", '"a"', None)
    await state.set("flow:/b", "k", '"b"', None)
    await state.increment("shared:", "k", 1, None)
    found = [await state.get(ns, "k") for ns in ("flow:/a", "flow:/b", "shared:", "flow:/c")]
    assert [None if f is None else f.value for f in found] == ['"a"', '"b"', "1", None]


async def test_the_sweep_deletes_expired_rows_in_batches(
    state: SqlStateStore, clock: Clock, store_url: str, reader_of: Any
) -> None:
    for i in range(5):
        await state.set(NS, f"old{i}", "0", 1.0)
    await state.set(NS, "later", "0", 100.0)
    await state.set(NS, "never", "0", None)
    assert await state.sweep(batch=2) == 0
    clock.now += 1
    assert await state.sweep(batch=2) == 5
    rows = reader_of(store_url).rows("SELECT key FROM weir_state ORDER BY key")
    assert [row[0] for row in rows] == ["later", "never"]


async def test_on_sqlite_a_state_write_waits_for_another_writer_then_commits(
    tmp_path: Path, reader_of: Any
) -> None:
    url = f"sqlite:///{tmp_path}/store.db"
    store = open_store(url)
    await store.start()
    try:
        other = reader_of(url)
        other.hold_write_lock()  # as the batch writer's thread does while it commits a batch
        try:
            counting = asyncio.create_task(store.state().increment(NS, "n", 1, None))
            await asyncio.sleep(0.2)
            assert not counting.done()
        finally:
            other.release()
        async with asyncio.timeout(5):
            assert (await counting).value == "1"
        assert other.rows("SELECT value FROM weir_state WHERE key = 'n'") == [("1",)]
    finally:
        await store.aclose()
