"""The state store's insert-if-absent (``add``), what poll triggers claim items and hold their
lease with, and ``get_many``: on SQLite and PostgreSQL, on an injected clock; of many adds of
one key from two stores at once exactly one wins."""

from __future__ import annotations

import asyncio

from tests.store.test_state import Clock, clock, state  # noqa: F401 (fixtures)
from weir.store import open_store
from weir.store.sql import SqlExecutionStore
from weir.store.state import GET_MANY_BATCH, SqlStateStore

NS = "poll:/files"


async def test_add_writes_a_missing_key_once(state: SqlStateStore) -> None:  # noqa: F811
    assert await state.add(NS, "a", '"first"', None) is True
    assert await state.add(NS, "a", '"second"', None) is False
    found = await state.get(NS, "a")
    assert found is not None and found.value == '"first"'


async def test_add_takes_over_an_expired_key(state: SqlStateStore, clock: Clock) -> None:  # noqa: F811
    assert await state.add(NS, "a", '"old"', 10.0) is True
    clock.now += 9.0
    assert await state.add(NS, "a", '"new"', 10.0) is False
    clock.now += 1.0
    assert await state.add(NS, "a", '"new"', 10.0) is True
    found = await state.get(NS, "a")
    assert found is not None and found.value == '"new"' and found.expires_at == clock.now + 10


async def test_renew_extends_only_the_holders_own_value(
    state: SqlStateStore,  # noqa: F811
    clock: Clock,  # noqa: F811
) -> None:
    assert await state.add(NS, "lease", '"pod-a"', 10.0, renew=True) is True
    clock.now += 5.0
    assert await state.add(NS, "lease", '"pod-b"', 10.0, renew=True) is False
    assert await state.add(NS, "lease", '"pod-a"', 10.0, renew=True) is True
    found = await state.get(NS, "lease")
    assert found is not None and found.expires_at == clock.now + 10
    clock.now += 10.0
    assert await state.add(NS, "lease", '"pod-b"', 10.0, renew=True) is True


async def test_of_forty_adds_of_one_key_from_two_stores_one_wins(
    store: SqlExecutionStore, store_url: str
) -> None:
    other = open_store(store_url)
    await other.start()
    try:
        mine, theirs = store.state(), other.state()
        adds = [(mine if i % 2 else theirs).add(NS, "item", f'"{i}"', None) for i in range(40)]
        won = await asyncio.gather(*adds)
    finally:
        await other.aclose()
    assert won.count(True) == 1


async def test_get_many_gives_the_live_entries_in_batches(
    state: SqlStateStore,  # noqa: F811
    clock: Clock,  # noqa: F811
) -> None:
    keys = [f"k{i}" for i in range(GET_MANY_BATCH + 20)]
    for key in keys[::7]:
        await state.add(NS, key, f'"{key}"', None)
    await state.add(NS, "soon", '"x"', 1.0)
    await state.add("poll:/other", "k0", '"theirs"', None)
    clock.now += 1.0
    found = await state.get_many(NS, [*keys, "soon", "absent"])
    assert sorted(found) == sorted(keys[::7])
    assert found["k0"].value == '"k0"'
    assert await state.get_many(NS, []) == {}
