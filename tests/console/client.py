"""A console in this process on a free loopback port, over a SQLite file, serving the example
flows the tests run; and a small client for its API and its event stream."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from weir.console.server import ConsoleOptions, ConsoleServer

ROOT = Path(__file__).parents[2]
FLOWS = [
    ROOT / "examples" / "hello" / "flow.yaml",
    ROOT / "examples" / "code" / "flow.yaml",
    Path(__file__).parent / "flows",
]
GOOD_ORDER = {"customer": "Ada", "lines": [{"sku": "A1", "qty": 2, "price": 9.5}]}
EMPTY_ORDER = {"customer": "Bob", "lines": []}
"""The code example fails on it: "order for Bob has no lines"."""


BOTH_STORES = pytest.mark.parametrize("console", ["sqlite", "postgresql"], indirect=True)
"""For a test that takes the ``console`` fixture (conftest.py): run it on either store."""


class Api:
    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base

    async def call(self, method: str, path: str, *, expect: int | None = 200, **kwargs: Any) -> Any:
        async with self.session.request(method, self.base + path, **kwargs) as response:
            body = await response.read()
            if expect is not None:
                assert response.status == expect, (response.status, body.decode()[:2000])
            if response.content_type.endswith("json"):
                return json.loads(body)
            return body.decode()

    async def get(self, path: str, **kwargs: Any) -> Any:
        return await self.call("GET", path, **kwargs)

    async def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return await self.call("POST", path, json=body, **kwargs)

    async def run(self, flow: str, payload: Any) -> str:
        started = await self.post(f"/api/v1/flows/{flow}/runs", {"input": payload}, expect=202)
        return str(started["id"])

    async def finished(self, execution_id: str, timeout: float = 20.0) -> dict[str, Any]:
        """The execution once it is no longer running."""
        deadline = time.monotonic() + timeout
        while True:
            view = await self.get(f"/api/v1/executions/{execution_id}")
            if view["execution"]["status"] != "running":
                return dict(view)
            assert time.monotonic() < deadline, f"{execution_id} still running"
            await asyncio.sleep(0.05)


@dataclass
class Event:
    id: int
    type: str
    data: dict[str, Any]


async def events(
    session: aiohttp.ClientSession,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    until: Callable[[list[Event]], bool],
    timeout: float = 30.0,
) -> list[Event]:
    """Read a Server-Sent Events stream until ``until(events so far)`` holds."""
    found: list[Event] = []
    async with asyncio.timeout(timeout), session.get(url, headers=headers) as response:
        assert response.status == 200, await response.text()
        assert response.headers["Content-Type"].startswith("text/event-stream")
        fields: dict[str, str] = {}
        async for raw in response.content:
            line = raw.decode().rstrip("\n")
            if line.startswith(":"):
                continue
            if line:
                name, _, value = line.partition(": ")
                fields[name] = value
                continue
            if "data" in fields:
                found.append(Event(int(fields["id"]), fields["event"], json.loads(fields["data"])))
                if until(found):
                    return found
            fields = {}
    return found


async def start_console(store: str, **options: Any) -> ConsoleServer:
    """A console serving FLOWS; retention is off unless asked for, so that what a test ships
    with old start times is not deleted under it."""
    settings: dict[str, Any] = {"retain_days": 0, "retain_per_flow": 0, "grace": 2, **options}
    paths = [str(path) for path in FLOWS]
    server = ConsoleServer(ConsoleOptions(paths=paths, store=store, port=0, **settings))
    await server.start()
    return server


async def api_for(server: ConsoleServer) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(session, f"http://127.0.0.1:{server.port}")


def wire_execution(
    execution_id: str,
    *,
    flow: str = "shipped",
    namespace: str = "team-a",
    status: str = "succeeded",
    started: float = 1_700_000_000.0,
    nodes: int = 2,
    payload: Any = None,
) -> dict[str, Any]:
    """An execution as a runner ships it, with ``nodes`` node runs."""
    return {
        "id": execution_id,
        "flow": flow,
        "namespace": namespace,
        "revision": "r1",
        "triggerKind": "rest",
        "trigger": {"payload": payload if payload is not None else {"n": execution_id}},
        "status": status,
        "startedAt": started,
        "finishedAt": None if status == "running" else started + 0.25,
        "error": {"type": "http", "message": "boom"} if status == "failed" else None,
        "result": {"ok": status == "succeeded"},
        "replayOf": None,
        "nodes": [
            {
                "seq": seq,
                "node": f"step{seq}",
                "kind": "transform",
                "status": "succeeded",
                "startedAt": started + seq * 0.01,
                "finishedAt": started + seq * 0.01 + 0.005,
                "attempts": [],
                "input": {"seq": seq},
                "output": {"seq": seq},
                "error": None,
            }
            for seq in range(1, nodes + 1)
        ],
    }
