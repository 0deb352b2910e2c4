"""The event stream: every event of many executions reaches two subscribers in order, a
reconnect with Last-Event-ID misses nothing and repeats nothing, a local run shows at once, and
what another process writes into the same store shows within the poll."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.console.client import BOTH_STORES, ROOT, Api, Event, events, wire_execution
from weir.console.server import ConsoleServer

EXECUTIONS = 1000
BATCH = 25
NODES = 2


async def ship(api: Api, count: int, runners: int = 4) -> None:
    """``count`` executions in batches, from ``runners`` shippers at once (as runners do)."""

    async def runner(number: int) -> None:
        for first in range(number * BATCH, count, BATCH * runners):
            batch = [
                wire_execution(f"e{n:05d}", nodes=NODES, started=1_700_000_000.0 + n)
                for n in range(first, min(first + BATCH, count))
            ]
            answer = await api.post("/api/v1/ingest", {"runner": f"r{number}", "executions": batch})
            assert answer["accepted"] == len(batch)

    await asyncio.gather(*(runner(number) for number in range(runners)))


def complete(expected: int) -> Callable[[list[Event]], bool]:
    return lambda found: len(found) >= expected


def check_in_order(found: list[Event], expected: int) -> None:
    seqs = [event.id for event in found]
    assert len(seqs) == expected and seqs == sorted(set(seqs)), (
        "events lost, repeated or out of order"
    )
    assert all(event.data["seq"] == event.id for event in found)


@BOTH_STORES
async def test_two_subscribers_get_every_event_in_order(api: Api, console: ConsoleServer) -> None:
    expected = EXECUTIONS * (1 + NODES)
    url = f"{api.base}/api/v1/events?lastEventId=0"
    subscribers = [
        asyncio.create_task(events(api.session, url, until=complete(expected))) for _ in range(2)
    ]
    await asyncio.sleep(0.2)  # both streams open: what follows arrives live
    await ship(api, EXECUTIONS)
    first, second = await asyncio.gather(*subscribers)
    check_in_order(first, expected)
    assert [e.id for e in first] == [e.id for e in second]
    assert [(e.type, e.data) for e in first] == [(e.type, e.data) for e in second]
    by_type = {kind: sum(1 for e in first if e.type == kind) for kind in ("execution", "node")}
    assert by_type == {"execution": EXECUTIONS, "node": EXECUTIONS * NODES}
    of_one = [
        (e.type, e.data["node"], e.data["nodeSeq"])
        for e in first
        if e.data["executionId"] == "e00042"
    ]
    assert of_one == [("node", "step1", 1), ("node", "step2", 2), ("execution", None, None)]
    assert all(e.data["namespace"] == "team-a" and e.data["flow"] == "shipped" for e in first)


@BOTH_STORES
async def test_a_reconnect_with_last_event_id_misses_nothing(api: Api) -> None:
    expected = EXECUTIONS * (1 + NODES)
    url = f"{api.base}/api/v1/events?lastEventId=0"
    shipping = asyncio.create_task(ship(api, EXECUTIONS))
    part = await events(api.session, url, until=complete(expected // 3))
    # Dropped mid-stream while shipping goes on; resumed from the last event seen.
    resumed = await events(
        api.session,
        f"{api.base}/api/v1/events",
        headers={"Last-Event-ID": str(part[-1].id)},
        until=complete(expected - len(part)),
    )
    await shipping
    check_in_order([*part, *resumed], expected)


async def test_filters_narrow_the_stream(api: Api) -> None:
    await ship(api, 3)
    other = wire_execution("z1", namespace="team-z", nodes=NODES)
    await api.post("/api/v1/ingest", {"runner": "r", "executions": [other]})
    one = await events(
        api.session,
        f"{api.base}/api/v1/events?lastEventId=0&execution=e00001",
        until=complete(1 + NODES),
    )
    assert {event.data["executionId"] for event in one} == {"e00001"}
    team_z = await events(
        api.session,
        f"{api.base}/api/v1/events?lastEventId=0&namespace=team-z",
        until=complete(1 + NODES),
    )
    assert {event.data["executionId"] for event in team_z} == {"z1"}


async def test_a_local_run_shows_on_the_stream_at_once(api: Api) -> None:
    url = f"{api.base}/api/v1/events"
    watching = asyncio.create_task(
        events(
            api.session,
            url,
            until=lambda found: any(
                e.type == "execution" and e.data["status"] == "succeeded" for e in found
            ),
            timeout=5,
        )
    )
    await asyncio.sleep(0.2)
    started = time.monotonic()
    execution_id = await api.run("hello", {"name": "Ada"})
    found = await watching
    assert time.monotonic() - started < 1.0
    assert [(e.type, e.data["status"]) for e in found] == [
        ("execution", "running"),
        ("node", "succeeded"),
        ("node", "succeeded"),
        ("execution", "succeeded"),
    ]
    assert {e.data["executionId"] for e in found} == {execution_id}


async def test_what_another_process_records_into_the_store_shows_on_the_stream(
    api: Api, console: ConsoleServer, tmp_path: Path
) -> None:
    watching = asyncio.create_task(
        events(
            api.session,
            f"{api.base}/api/v1/events?flow=hello",
            until=lambda found: any(
                e.data["status"] == "succeeded" for e in found if e.type == "execution"
            ),
            timeout=30,
        )
    )
    await asyncio.sleep(0.2)
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "weir.cli", "run", "examples/hello/flow.yaml", "-q",
         "--input", '{"name": "Lin"}', "--store", f"sqlite:///{tmp_path}/console.db"],
        capture_output=True, text=True, cwd=ROOT, timeout=60, env={**os.environ},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = await watching
    assert found[-1].data["flow"] == "hello"


async def test_an_idle_stream_gets_heartbeats(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from weir.console import events as module

    monkeypatch.setattr(module, "HEARTBEAT", 0.2)
    async with api.session.get(f"{api.base}/api/v1/events") as response:
        assert response.headers["Cache-Control"] == "no-cache"
        assert response.headers["X-Accel-Buffering"] == "no"
        lines = []
        async with asyncio.timeout(5):
            async for raw in response.content:
                lines.append(raw.decode().strip())
                if ": heartbeat" in lines:
                    break
    assert lines[0] == "retry: 2000"


async def test_a_stream_refuses_a_bad_last_event_id(api: Api) -> None:
    problem = await api.get("/api/v1/events", headers={"Last-Event-ID": "x1"}, expect=400)
    assert "Last-Event-ID" in problem["detail"]
