"""Waiting executions in the console: shipped ones are taken in and listed with
``?status=waiting``, and their parked node run is updated when the resumed execution is shipped
again; locally, the console's waker resumes the runs of the flows it serves, and a cancel
cancels a waiting execution at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.console.client import BOTH_STORES, Api, api_for, wire_execution
from weir.console.server import ConsoleOptions, ConsoleServer

NAPPER = """\
apiVersion: weir.dev/v1alpha1
kind: Flow
metadata: {name: napper}
spec:
  trigger: {manual: {}}
  nodes:
    - name: nap
      sleep: {for: "$DURATION"}
      next: done
    - name: done
      transform: {set: {slept: "$.nodes.nap.sleptUntil"}}
"""


def parked(execution_id: str, status: str, node_status: str, nodes: int) -> dict[str, Any]:
    shipped = wire_execution(execution_id, status=status, nodes=nodes)
    for node in shipped["nodes"][:1]:
        node["status"] = node_status
    if status == "waiting":
        shipped["finishedAt"] = None
    return shipped


@BOTH_STORES
async def test_a_shipped_waiting_execution_is_listed_and_updated_when_resumed(
    api: Api,
) -> None:
    waiting = parked("w1", "waiting", "waiting", 1)
    assert await api.post("/api/v1/ingest", {"runner": "r1", "executions": [waiting]}) == {
        "accepted": 1
    }
    listed = await api.get("/api/v1/executions?status=waiting")
    assert [row["id"] for row in listed["items"]] == ["w1"]
    view = await api.get("/api/v1/executions/w1")
    assert view["execution"]["status"] == "waiting" and view["execution"]["finishedAt"] is None
    assert [node["status"] for node in view["nodes"]] == ["waiting"]
    # A stale snapshot from before it parked does not take it back to running.
    stale = parked("w1", "running", "succeeded", 0)
    await api.post("/api/v1/ingest", {"runner": "r1", "executions": [stale]})
    assert (await api.get("/api/v1/executions/w1"))["execution"]["status"] == "waiting"
    done = parked("w1", "succeeded", "succeeded", 2)
    await api.post("/api/v1/ingest", {"runner": "r1", "executions": [done]})
    view = await api.get("/api/v1/executions/w1")
    assert view["execution"]["status"] == "succeeded"
    assert [node["status"] for node in view["nodes"]] == ["succeeded", "succeeded"]


@pytest.fixture
async def local(tmp_path: Path) -> AsyncIterator[tuple[Api, Path]]:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "napper.yaml").write_text(NAPPER.replace("$DURATION", "300ms"))
    (flows / "sleeper.yaml").write_text(
        NAPPER.replace("napper", "sleeper").replace("$DURATION", "1h")
    )
    options = ConsoleOptions(
        paths=[str(flows)],
        store=f"sqlite:///{tmp_path}/console.db",
        port=0,
        retain_days=0,
        retain_per_flow=0,
        grace=2,
    )
    server = ConsoleServer(options)
    await server.start()
    try:
        async for api in api_for(server):
            yield api, tmp_path
    finally:
        await server.stop()


async def status_of(api: Api, execution_id: str, wanted: str, timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        view = await api.get(f"/api/v1/executions/{execution_id}")
        if view["execution"]["status"] == wanted:
            return view
        assert time.monotonic() < deadline, f"{execution_id} is {view['execution']['status']}"
        await asyncio.sleep(0.05)


async def test_the_local_console_resumes_its_runs_that_sleep(
    local: tuple[Api, Path],
) -> None:
    api, _ = local
    execution_id = await api.run("napper", {})
    await status_of(api, execution_id, "waiting")
    view = await status_of(api, execution_id, "succeeded")
    assert [(n["seq"], n["node"], n["status"]) for n in view["nodes"]] == [
        (1, "nap", "succeeded"),
        (2, "done", "succeeded"),
    ]


async def test_cancelling_a_waiting_execution_cancels_it_at_once(
    local: tuple[Api, Path],
) -> None:
    api, _ = local
    execution_id = await api.run("sleeper", {})
    await status_of(api, execution_id, "waiting")
    answer = await api.post(f"/api/v1/executions/{execution_id}/cancel", expect=202)
    assert answer["id"] == execution_id
    view = await api.get(f"/api/v1/executions/{execution_id}")
    assert view["execution"]["status"] == "cancelled"
    assert [n["status"] for n in view["nodes"]] == ["cancelled"]
    await api.post(f"/api/v1/executions/{execution_id}/cancel", expect=409)
