"""The files trigger on a local directory: one execution per new file, never two for a file
done; files still being written wait to settle; the limit per poll and the concurrency; after:
delete and move (only on success); a claim left by a dead poller is taken again; one poller
per flow; a failing poll is counted and the runner stays ready."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.runner.polling import close, counts, flow_file, outcomes, poller, started, until
from weir.store.base import RecordingUnavailable
from weir.triggers.poll.claims import Claims
from weir.triggers.poll.poller import Poller

pytestmark = pytest.mark.timeout(60)


def trigger(base: Path, **fields: Any) -> dict[str, Any]:
    return {
        "local": {"baseDir": str(base)},
        "path": "in",
        "settle": "0s",
        "interval": "50ms",
        **fields,
    }


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    (tmp_path / "in").mkdir()
    return tmp_path / "in"


def drop(inbox: Path, *names: str, text: str = "a,b\n") -> None:
    for name in names:
        (inbox / name).write_text(text)


async def served(tmp_path: Path, seconds: float = 0.0, **fields: Any) -> Poller:
    runtime = await poller(
        flow_file(tmp_path, "files", trigger(tmp_path, **fields), seconds=seconds),
        tmp_path / "store.db",
    )
    await runtime.start()
    return runtime


def finished(tmp_path: Path, n: int) -> Any:
    return lambda: len(started(tmp_path / "store.db")) >= n


async def test_each_new_file_starts_one_execution_and_a_done_one_never_again(
    tmp_path: Path, inbox: Path
) -> None:
    drop(inbox, "a.csv", "b.csv", "skip.txt")
    runtime = await served(tmp_path, pattern="*.csv")
    await until(finished(tmp_path, 2))
    drop(inbox, "c.csv")
    await until(finished(tmp_path, 3))
    await asyncio.sleep(0.3)  # several more polls
    await close(runtime)
    assert counts(tmp_path / "store.db") == {"in/a.csv": 1, "in/b.csv": 1, "in/c.csv": 1}
    first = started(tmp_path / "store.db")[0]
    assert first["name"] == "a.csv" and first["size"] == 4 and first["baseDir"] == str(tmp_path)
    assert outcomes(runtime)["started"] == outcomes(runtime)["seen"] == 3

    # Another runner on the same store (a restart): nothing runs again.
    again = await served(tmp_path, pattern="*.csv")
    await asyncio.sleep(0.3)
    await close(again)
    assert len(started(tmp_path / "store.db")) == 3


async def test_a_file_replaced_by_another_of_the_same_name_starts_again(
    tmp_path: Path, inbox: Path
) -> None:
    drop(inbox, "a.csv")
    runtime = await served(tmp_path)
    await until(finished(tmp_path, 1))
    drop(inbox, "a.csv", text="a,b\nnew,row\n")
    await until(finished(tmp_path, 2))
    await close(runtime)
    assert [p["size"] for p in started(tmp_path / "store.db")] == [4, 12]


async def test_a_file_still_growing_waits_until_it_settles(tmp_path: Path, inbox: Path) -> None:
    runtime = await served(tmp_path, settle="400ms")
    growing = inbox / "big.csv"
    with growing.open("w") as out:
        for _ in range(6):  # 600 ms of writes, each changing the size
            out.write("row\n")
            out.flush()
            await asyncio.sleep(0.1)
            assert started(tmp_path / "store.db") == []
    await until(finished(tmp_path, 1), timeout=5)
    await close(runtime)
    assert started(tmp_path / "store.db")[0]["size"] == 24


async def test_the_limit_per_poll_and_the_concurrency(tmp_path: Path, inbox: Path) -> None:
    drop(inbox, *(f"{n}.csv" for n in range(5)))
    runtime = await served(tmp_path, limit=2, interval="1h")
    await until(finished(tmp_path, 2))
    await asyncio.sleep(0.2)
    assert len(started(tmp_path / "store.db")) == 2  # one poll, its limit
    assert runtime._claims is not None
    await runtime.poll(runtime._claims)
    await runtime.poll(runtime._claims)
    await until(finished(tmp_path, 5))
    await close(runtime)
    assert set(counts(tmp_path / "store.db").values()) == {1}

    (tmp_path / "store.db").unlink()
    busy = await served(tmp_path, seconds=0.3, limit=10, concurrency=2)
    await until(lambda: len(busy.in_flight) == 2)
    peak = 0
    while len(started(tmp_path / "store.db")) < 5 or busy.in_flight:
        peak = max(peak, busy.service.in_flight)
        await asyncio.sleep(0.02)
    await close(busy)
    assert peak == 2


@pytest.mark.parametrize("after", ["delete", {"move": "done/csv"}])
async def test_after_deletes_or_moves_the_file(tmp_path: Path, inbox: Path, after: Any) -> None:
    drop(inbox, "ok.csv")
    runtime = await served(tmp_path, after=after)
    await until(lambda: not (inbox / "ok.csv").exists())
    await close(runtime)
    if after == "delete":
        assert not (tmp_path / "done").exists()
    else:
        assert (tmp_path / "done" / "csv" / "ok.csv").read_text() == "a,b\n"


async def test_a_failed_execution_keeps_its_file(tmp_path: Path, inbox: Path) -> None:
    drop(inbox, "bad.csv")
    flow = flow_file(tmp_path, "files", trigger(tmp_path, after="delete"))
    flow.write_text(
        flow.read_text().replace("test.sleep", "test.boom").replace("seconds: 0.0\n", "")
    )
    runtime = await poller(flow, tmp_path / "store.db")
    await runtime.start()
    await until(finished(tmp_path, 1))
    await asyncio.sleep(0.3)
    await close(runtime)
    assert (inbox / "bad.csv").exists() and len(started(tmp_path / "store.db")) == 1


async def test_a_claim_left_by_a_dead_poller_is_taken_again(tmp_path: Path, inbox: Path) -> None:
    drop(inbox, "orphan.csv", "done.csv", "new.csv", "busy.csv")
    runtime = await poller(flow_file(tmp_path, "files", trigger(tmp_path)), tmp_path / "store.db")
    state = runtime.service.engine.state
    assert state is not None
    # A runner claimed orphan.csv an hour ago and died before its execution was recorded;
    # done.csv it had started; busy.csv another runner claimed a moment ago (still starting).
    claimed = {"state": "claimed", "holder": "dead/1/x", "at": time.time() - 3600}
    await state.set("poll:/arrivals", _key(inbox / "orphan.csv"), json.dumps(claimed), None)
    other = Claims(state, "poll:/arrivals", remember=60, lease=60, holder="other/2/y")
    await other.claim(_key(inbox / "busy.csv"), None)
    await other.claim(_key(inbox / "done.csv"), None)
    await other.done(_key(inbox / "done.csv"), "x")
    await runtime.start()
    await until(finished(tmp_path, 2))
    await asyncio.sleep(0.3)
    await close(runtime)
    assert counts(tmp_path / "store.db") == {"in/orphan.csv": 1, "in/new.csv": 1}
    assert outcomes(runtime)["retaken"] == 1 and outcomes(runtime)["claimed"] == 1


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
async def test_one_poller_per_flow(
    tmp_path: Path, inbox: Path, database: str, request: pytest.FixtureRequest
) -> None:
    store: Path | str = tmp_path / "store.db"
    if database == "postgresql":
        store = request.getfixturevalue("fresh_postgres_url")
    drop(inbox, *(f"{n}.csv" for n in range(20)))
    flow = flow_file(tmp_path, "files", trigger(tmp_path), seconds=0.05)
    first, second = await poller(flow, store), await poller(flow, store)
    await first.start()
    await second.start()
    await until(lambda: len(started(store)) >= 20)
    await asyncio.sleep(0.3)
    assert [first.holding, second.holding].count(True) == 1
    await close(first)
    await asyncio.sleep(0.2)  # the first gave its lease up: the second takes over at once
    drop(inbox, "late.csv")
    await until(lambda: len(started(store)) >= 21)
    assert second.holding
    await close(second)
    assert set(counts(store).values()) == {1}


async def test_a_failing_poll_is_counted_and_the_runner_stays_ready(tmp_path: Path) -> None:
    runtime = await served(tmp_path)  # no "in" directory
    await until(lambda: outcomes(runtime).get("poll_error", 0) >= 2)
    assert runtime.live and runtime.problem() is None
    (tmp_path / "in").mkdir()
    drop(tmp_path / "in", "late.csv")
    await until(finished(tmp_path, 1))
    await close(runtime)


async def test_without_a_store_the_runner_says_why_it_is_not_ready(tmp_path: Path) -> None:
    runtime = await served(tmp_path)
    runtime.service.engine.state = None
    assert "execution store" in (runtime.problem() or "")
    await close(runtime)


def _key(path: Path) -> str:
    import datetime as dt

    info = path.stat()
    modified = dt.datetime.fromtimestamp(info.st_mtime, dt.UTC).isoformat()
    return f"in/{path.name}@{info.st_size}@{modified}"


async def test_an_execution_that_cannot_start_is_tried_again_at_the_next_poll(
    tmp_path: Path, inbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drop(inbox, "a.csv")
    runtime = await poller(flow_file(tmp_path, "files", trigger(tmp_path)), tmp_path / "store.db")
    accept = runtime.service.accept
    failures = [RuntimeError("the flow cannot start")]

    async def failing_once(event: Any, execution_id: str) -> None:
        if failures:
            raise failures.pop()
        await accept(event, execution_id)

    monkeypatch.setattr(runtime.service, "accept", failing_once)
    await runtime.start()
    await until(finished(tmp_path, 1))
    await asyncio.sleep(0.2)
    await close(runtime)
    assert counts(tmp_path / "store.db") == {"in/a.csv": 1}
    assert outcomes(runtime)["start_error"] == 1 and outcomes(runtime)["claimed"] == 2


async def test_an_execution_recorded_late_is_done_once_recorded_and_never_started_twice(
    tmp_path: Path, inbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drop(inbox, "a.csv")
    runtime = await poller(flow_file(tmp_path, "files", trigger(tmp_path)), tmp_path / "store.db")
    store = runtime.service.engine.store
    assert store is not None
    durable = store.durable
    late = [RecordingUnavailable("the store did not answer in time")]

    async def late_once(timeout: float | None = None) -> None:
        await durable(timeout)
        if late and timeout is not None:
            raise late.pop()

    monkeypatch.setattr(store, "durable", late_once)
    await runtime.start()
    await until(lambda: outcomes(runtime).get("started", 0) == 1)
    await asyncio.sleep(0.3)
    marks = await runtime._claims.marks([_key(inbox / "a.csv")])  # type: ignore[union-attr]
    await close(runtime)
    assert counts(tmp_path / "store.db") == {"in/a.csv": 1}
    assert outcomes(runtime)["unrecorded"] == 1
    assert [mark.state for mark in marks.values()] == ["done"]
