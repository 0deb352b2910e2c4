"""Cancelling an execution a runner runs (FlowService.cancel, what the console's cancel reaches):
it stops within a second, what its node awaited is aborted, and it is recorded cancelled."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from weir.engine.executor import Engine, TriggerEvent
from weir.engine.metrics import RunnerMetrics
from weir.engine.service import FlowService
from weir.secrets.resolve import LocalSecretResolver
from weir.store import open_store
from weir.store.records import Status

HEAD = "apiVersion: weir.dev/v1alpha1\nkind: Flow\nmetadata: {name: slow}\nspec:\n"


class Hanging:
    """An HTTP server that never answers, and notices when a client gives up on it."""

    def __init__(self) -> None:
        self.arrived = asyncio.Event()
        self.aborted = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        self.arrived.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:  # aiohttp cancels a handler whose client went away
            self.aborted.set()
            raise
        return web.Response()


@pytest.fixture
async def hanging() -> AsyncIterator[tuple[Hanging, str]]:
    server = Hanging()
    app = web.Application()
    app.router.add_get("/", server.handle)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield server, f"http://127.0.0.1:{port}/"
    await runner.cleanup()


async def service(tmp_path: Path, node: str, *, store: bool = False) -> FlowService:
    flow = tmp_path / "flow.yaml"
    flow.write_text(HEAD + "  trigger: {manual: {}}\n  nodes:\n    - " + node + "\n")
    recorded = None
    if store:
        recorded = open_store(f"sqlite:///{tmp_path}/store.db")
        await recorded.start()
    engine = Engine(store=recorded, secrets=LocalSecretResolver(environ={}))
    return FlowService(flow, engine, RunnerMetrics(), record_wait=5)


async def started(svc: FlowService) -> str:
    for _ in range(200):
        if svc.running:
            return svc.running[0]
        await asyncio.sleep(0.01)
    raise AssertionError("the execution did not start")


async def recorded_status(svc: FlowService, execution_id: str) -> str:
    store = svc.engine.store
    assert store is not None
    await store.flush()
    found = await store.get_execution(execution_id)
    assert found is not None
    return found[0].status


async def test_cancel_aborts_an_http_call_and_the_caller_gets_the_cancelled_outcome(
    tmp_path: Path, hanging: tuple[Hanging, str]
) -> None:
    server, url = hanging
    svc = await service(
        tmp_path, f"{{name: call, http: {{url: '{url}', timeout: 1h}}}}", store=True
    )
    running = asyncio.create_task(svc.execute(TriggerEvent(kind="manual", payload={})))
    execution_id = await started(svc)
    await asyncio.wait_for(server.arrived.wait(), 5)

    asked = time.monotonic()
    assert svc.cancel(execution_id) is True
    assert svc.cancel(execution_id) is True  # asked again while it stops: still true
    result = await asyncio.wait_for(running, 1)
    assert time.monotonic() - asked < 1
    assert result.status == Status.CANCELLED
    assert result.error is not None and result.error["type"] == "cancelled"
    await asyncio.wait_for(server.aborted.wait(), 2)  # the request was given up, not left open
    assert svc.running == [] and svc.in_flight == 0
    assert svc.cancel(execution_id) is False  # finished: nothing to cancel

    assert await recorded_status(svc, execution_id) == Status.CANCELLED
    # The node it stopped is recorded too: which one, and how long it had run.
    (call,) = result.nodes
    assert (call.node, call.status) == ("call", Status.CANCELLED)
    assert call.error is not None and call.error["type"] == "cancelled"
    assert call.finished_at >= call.started_at
    store = svc.engine.store
    assert store is not None
    found = await store.get_execution(execution_id)
    assert found is not None and [(n.node, n.status) for n in found[1]] == [("call", "cancelled")]
    await svc.engine.aclose()


async def test_cancel_stops_a_script_that_never_ends(tmp_path: Path) -> None:
    svc = await service(tmp_path, "{name: spin, code: {script: 'while (true) {}', timeout: 1h}}")
    running = asyncio.create_task(svc.execute(TriggerEvent(kind="manual", payload={})))
    execution_id = await started(svc)
    await asyncio.sleep(0.2)  # the script is spinning
    assert svc.cancel(execution_id) is True
    result = await asyncio.wait_for(running, 1)
    assert result.status == Status.CANCELLED
    await svc.engine.aclose()


async def test_an_accepted_execution_is_cancelled_and_recorded(tmp_path: Path) -> None:
    svc = await service(tmp_path, "{name: wait, code: {script: 'while (true) {}'}}", store=True)
    await svc.accept(TriggerEvent(kind="manual", payload={}), "0123456789abcdef0123456789abcdef")
    execution_id = await started(svc)
    assert execution_id == "0123456789abcdef0123456789abcdef"
    assert svc.cancel(execution_id)
    assert await svc.drain(1) is True
    assert await recorded_status(svc, execution_id) == Status.CANCELLED
    await svc.engine.aclose()


async def test_unknown_ids_and_the_callers_own_cancellation(tmp_path: Path) -> None:
    svc = await service(tmp_path, "{name: spin, code: {script: 'while (true) {}'}}")
    assert svc.cancel("no-such-execution") is False
    running = asyncio.create_task(svc.execute(TriggerEvent(kind="manual", payload={})))
    await started(svc)
    running.cancel()  # the caller going away is not a cancel of the execution: it propagates
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(running, 1)
    assert svc.running == []
    await svc.engine.aclose()


async def test_a_cancel_named_by_the_console_stops_the_execution_within_a_second(
    tmp_path: Path,
) -> None:
    from tests.serve.consoles import FakeConsole, eventually
    from weir.serve.cancels import CancelListener
    from weir.serve.console_client import ConsoleClient

    console = FakeConsole()
    await console.start()
    svc = await service(tmp_path, "{name: spin, code: {script: 'while (true) {}'}}")
    client = ConsoleClient(console.url)
    asked: list[str] = []

    def cancel(execution_id: str) -> bool:
        asked.append(execution_id)
        return svc.cancel(execution_id)

    listener = CancelListener(client, "runner-1", cancel, flow="slow", namespace="ns", wait=5)
    polling = asyncio.create_task(listener.run())
    running = asyncio.create_task(svc.execute(TriggerEvent(kind="manual", payload={})))
    execution_id = await started(svc)
    await eventually(lambda: len(console.polls) >= 1, what="a long poll")

    console.cancel = [execution_id]
    requested = time.monotonic()
    result = await asyncio.wait_for(running, 2)
    assert time.monotonic() - requested < 1
    assert result.status == Status.CANCELLED
    assert console.polls[0] == {
        "runner": "runner-1",
        "wait": "5",
        "flow": "slow",
        "namespace": "ns",
    }

    console.cancel = [execution_id, "unknown"]  # named again until the console hears it ended
    await eventually(lambda: "unknown" in asked, what="the next poll")
    assert asked == [execution_id, "unknown"]  # not cancelled twice

    polling.cancel()
    await asyncio.gather(polling, return_exceptions=True)
    await client.aclose()
    await console.stop()
    await svc.engine.aclose()
