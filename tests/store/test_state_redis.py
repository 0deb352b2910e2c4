"""The state keys in Redis (weir.store.state_redis) against a real redis-server, with the
behaviours tests/store/test_state.py checks for the SQL store: expiry (Redis's own, in real
time: short TTLs), SET clearing a TTL and INCREMENT keeping it, fifty concurrent increments
from two clients, a non-number refused, add and renew, get_many, namespaces; plus what is
Redis's own: the key names, number formats, and errors that name host:port, not a password."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers.redis import RedisServer, redis_session, start_redis
from weir.lang.errors import AuthFailed, ConnectionFailed
from weir.nodes.state_store import NotANumber
from weir.store.state_redis import RedisStateStore, check_redis_url
from weir.triggers.poll.claims import Claims

NS = "flow:/counter"


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    yield from redis_session(tmp_path_factory)


@pytest.fixture
async def state(redis_server: RedisServer) -> AsyncIterator[RedisStateStore]:
    keys = RedisStateStore(redis_server.url(1))
    await keys._call(lambda client: client.flushdb())
    yield keys
    await keys.aclose()


async def values(state: RedisStateStore, *keys: str) -> list[Any]:
    found = [await state.get(NS, key) for key in keys]
    return [None if entry is None else json.loads(entry.value) for entry in found]


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "not within the time allowed"
        await asyncio.sleep(0.05)


async def missing(state: RedisStateStore, key: str) -> bool:
    return await state.get(NS, key) is None


async def test_set_get_and_delete_under_the_namespaced_name(state: RedisStateStore) -> None:
    await state.set(NS, "a", json.dumps({"x": [1, "two"]}), None)
    assert await values(state, "a", "missing") == [{"x": [1, "two"]}, None]
    raw = await state._call(lambda client: client.get("weir:state:flow:/counter:a"))
    assert json.loads(raw) == {"x": [1, "two"]}
    assert await state.delete(NS, "a") is True
    assert await state.delete(NS, "a") is False
    assert await values(state, "a") == [None]


async def test_an_expired_key_reads_as_missing_and_deletes_as_missing(
    state: RedisStateStore,
) -> None:
    before = time.time()
    entry = await state.set(NS, "a", "1", 0.5)
    assert entry.expires_at is not None and before + 0.5 <= entry.expires_at <= time.time() + 0.5
    found = await state.get(NS, "a")
    assert found is not None and found.expires_at == pytest.approx(entry.expires_at, abs=0.1)
    await eventually(lambda: missing(state, "a"))
    assert await state.delete(NS, "a") is False


async def test_set_without_a_ttl_clears_the_one_the_key_had(state: RedisStateStore) -> None:
    await state.set(NS, "a", "1", 0.5)
    await state.set(NS, "a", "2", None)
    await asyncio.sleep(0.7)
    found = await state.get(NS, "a")
    assert found is not None and found.value == "2" and found.expires_at is None


async def test_increment_starts_from_zero_and_keeps_the_ttl_of_a_live_key(
    state: RedisStateStore,
) -> None:
    first = await state.increment(NS, "n", 1, 60.0)
    assert first.value == "1" and first.expires_at == pytest.approx(time.time() + 60, abs=1)
    second = await state.increment(NS, "n", 2, 5.0)  # a live key keeps its own expiry
    assert second.value == "3" and second.expires_at == pytest.approx(first.expires_at, abs=0.1)
    third = await state.increment(NS, "n", 0.5, None)
    assert json.loads(third.value) == 3.5
    assert third.expires_at == pytest.approx(first.expires_at, abs=0.1)


async def test_increment_counts_an_expired_key_as_absent(state: RedisStateStore) -> None:
    await state.set(NS, "n", '"not a number"', 0.3)
    await eventually(lambda: missing(state, "n"))
    renewed = await state.increment(NS, "n", 1, 20.0)
    assert renewed.value == "1" and renewed.expires_at is not None
    assert await state.increment(NS, "m", 1, None) == await state.get(NS, "m")


async def test_increment_keeps_integers_integers_and_floats_floats(state: RedisStateStore) -> None:
    sums = [(await state.increment(NS, "i", by, None)).value for by in (1, 2, -4)]
    assert sums == ["1", "3", "-1"]
    await state.set(NS, "big", json.dumps(2**62), None)
    assert (await state.increment(NS, "big", 1, None)).value == str(2**62 + 1)  # exact
    floats = [(await state.increment(NS, "f", by, None)).value for by in (2.5, 0.5, 0.1)]
    assert [json.loads(v) for v in floats] == [2.5, 3.0, 3.1]
    assert isinstance(json.loads(floats[1]), float)
    assert json.loads((await state.increment(NS, "i", 1.0, None)).value) == 0.0


async def test_increment_of_a_non_number_is_refused_and_leaves_it(state: RedisStateStore) -> None:
    for value in ('{"a":1}', '"12"', "true", "null", "[1]"):
        await state.set(NS, "s", value, None)
        with pytest.raises(NotANumber) as caught:
            await state.increment(NS, "s", 1, None)
        assert caught.value.value == value
        assert (await state.get(NS, "s")) is not None


async def test_fifty_concurrent_increments_from_two_clients_count_fifty(
    state: RedisStateStore, redis_server: RedisServer
) -> None:
    other = RedisStateStore(redis_server.url(1))
    try:
        done = await asyncio.gather(
            *((state if i % 2 else other).increment(NS, "hits", 1, None) for i in range(50))
        )
        assert sorted(int(entry.value) for entry in done) == list(range(1, 51))
        assert await values(state, "hits") == [50]
    finally:
        await other.aclose()


async def test_add_writes_once_and_renew_only_extends_its_own_value(
    state: RedisStateStore,
) -> None:
    assert await state.add(NS, "lease", '"me"', 0.5) is True
    assert await state.add(NS, "lease", '"you"', 0.5) is False
    assert await state.add(NS, "lease", '"you"', 0.5, renew=True) is False
    assert await state.add(NS, "lease", '"me"', 30.0, renew=True) is True
    renewed = await state.get(NS, "lease")
    assert renewed is not None and renewed.expires_at == pytest.approx(time.time() + 30, abs=1)
    assert await state.add(NS, "lease", '"me"', None, renew=True) is True
    kept = await state.get(NS, "lease")
    assert kept is not None and kept.expires_at is None  # as SQL: no TTL given, none kept
    await state.set(NS, "short", '"old"', 0.3)
    await eventually(lambda: missing(state, "short"))
    assert await state.add(NS, "short", '"new"', None) is True
    assert await values(state, "lease", "short") == ["me", "new"]


async def test_get_many_gives_the_live_keys_only(state: RedisStateStore) -> None:
    await state.set(NS, "a", "1", None)
    await state.set(NS, "b", '"x"', 60.0)
    await state.set(NS, "gone", "0", 0.2)
    await state.set("flow:/other", "c", "3", None)
    await eventually(lambda: missing(state, "gone"))
    keys = ["a", "b", "c", "gone", *(f"none{i}" for i in range(600))]
    found = await state.get_many(NS, keys)
    assert {key: entry.value for key, entry in found.items()} == {"a": "1", "b": '"x"'}
    assert found["a"].expires_at is None and found["b"].expires_at is not None
    assert await state.get_many(NS, []) == {}


async def test_a_polling_triggers_lease_and_claims_go_to_one_poller(
    state: RedisStateStore, redis_server: RedisServer
) -> None:
    other_client = RedisStateStore(redis_server.url(1))
    try:
        mine = Claims(state, "poll:/p", remember=60, lease=0.5, holder="me")
        theirs = Claims(other_client, "poll:/p", remember=60, lease=0.5, holder="them")
        held = await asyncio.gather(mine.hold_lease(), theirs.hold_lease())
        assert sorted(held) == [False, True]
        holder, waiting = (mine, theirs) if held[0] else (theirs, mine)
        assert await holder.hold_lease() is True and await waiting.hold_lease() is False
        claimed = await asyncio.gather(*(c.claim("in/a.csv", None) for c in (mine, theirs)))
        assert sorted(claimed) == [False, True]
        await holder.release_lease()
        assert await waiting.hold_lease() is True
        marks = await waiting.marks(["in/a.csv", "in/b.csv"])
        assert list(marks) == ["in/a.csv"] and marks["in/a.csv"].state == "claimed"
    finally:
        await other_client.aclose()


async def test_namespaces_keep_their_own_keys(state: RedisStateStore) -> None:
    await state.set("flow:/a", "k", '"a"', None)
    await state.set("flow:/b", "k", '"b"', None)
    await state.increment("shared:", "k", 1, None)
    found = [await state.get(ns, "k") for ns in ("flow:/a", "flow:/b", "shared:", "flow:/c")]
    assert [None if f is None else f.value for f in found] == ['"a"', '"b"', "1", None]


async def test_unreachable_redis_is_a_retryable_error_naming_host_and_port_only() -> None:
    state = RedisStateStore("redis://:hunter2@127.0.0.1:1/3")
    with pytest.raises(ConnectionFailed) as caught:
        await state.get(NS, "a")
    message = str(caught.value)
    assert "127.0.0.1:1/3" in message and "hunter2" not in message
    assert caught.value.retryable


async def test_a_password_redis_refuses_is_an_auth_error_without_it(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    guarded = start_redis(tmp_path, "--requirepass", "right-one")
    try:
        wrong = RedisStateStore(f"redis://:wrong-one@127.0.0.1:{guarded.port}/0")
        with pytest.raises(AuthFailed) as caught:
            await wrong.set(NS, "a", "1", None)
        assert f"127.0.0.1:{guarded.port}/0" in str(caught.value)
        assert "wrong-one" not in str(caught.value) and not caught.value.retryable
        await wrong.aclose()
        right = RedisStateStore(f"redis://:right-one@127.0.0.1:{guarded.port}/0")
        assert (await right.increment(NS, "n", 1, None)).value == "1"
        await right.aclose()
    finally:
        guarded.stop()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("postgresql://u:secret@h/db", "scheme must be redis:// or rediss://"),
        ("redis:///0", "no host"),
        ("redis://:secret@h:port/0", "h:port/0: the port must be a number"),
        ("redis://:secret@h:6379/zero", "database must be a number"),
    ],
)
def test_a_bad_url_is_refused_naming_the_problem_not_the_password(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as caught:
        check_redis_url(url)
    assert "secret" not in str(caught.value)


def test_good_urls_pass() -> None:
    for url in ("redis://localhost", "rediss://:pw@cache.example:6380/2", "redis://u:p@h:1/"):
        check_redis_url(url)
