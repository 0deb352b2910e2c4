"""Stopping the console: not ready any more, event streams ended (their clients reconnect
elsewhere), local runs let finish within the grace period and the rest recorded cancelled."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.console.client import api_for, start_console
from weir.store import open_store


async def test_a_stop_ends_streams_and_lets_runs_finish_within_the_grace(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/console.db"
    server = await start_console(store, grace=1.5)
    async for api in api_for(server):
        finishing = await api.run("slow", {"ms": 300})
        stuck = await api.run("slow", {"ms": 30_000})
        async with api.session.get(f"{api.base}/api/v1/events") as stream:
            await stream.content.readline()  # the retry line: the stream is open
            asked = time.monotonic()
            stopping = asyncio.create_task(server.stop())
            async with asyncio.timeout(5):
                await stream.content.read()  # returns once the console ends the stream
        await stopping
        took = time.monotonic() - asked
        assert took < 4, f"stopping took {took:.1f}s"

    reopened = await _records(store, [finishing, stuck])
    assert reopened == {finishing: "succeeded", stuck: "cancelled"}


async def _records(url: str, ids: list[str]) -> dict[str, str]:
    store = open_store(url)
    await store.start()
    try:
        found = {}
        for execution_id in ids:
            record, _nodes = await store.get_execution(execution_id)
            found[execution_id] = str(record.status)
        return found
    finally:
        await store.aclose()
