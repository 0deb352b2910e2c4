"""`weir cancel ID` the whole way: the CLI asks a `weir console` (local mode, its own process),
a `weir serve --console` runner hears of it on its long poll and cancels the execution, whose
HTTP call is aborted; the execution ends ``cancelled`` within a second of the request, and
`weir executions show` says so."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import httpx
from aiohttp import ClientSession, web

from tests.console.test_console_command import started_console
from tests.runner.serving import Served
from tests.runner.test_serve import write_flow
from tests.serve.consoles import InThread, wait_until
from tests.serve.test_cancel import Hanging
from tests.test_examples import weir


class Site:
    """An aiohttp application served by ``InThread``; cancels a handler whose client left."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.runner = web.AppRunner(app, handler_cancellation=True)

    async def start(self, port: int = 0) -> str:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", port)
        await site.start()
        bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{bound}"

    async def stop(self) -> None:
        await self.runner.cleanup()


def hanging_site(server: Hanging) -> Site:
    app = web.Application()
    app.router.add_get("/", server.handle)
    return Site(app)


class StampingProxy:
    """Passes every request on to ``target`` and notes (wall clock) when each arrived: when the
    console was asked to cancel, to the millisecond, whatever the CLI's start-up costs."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.arrivals: list[tuple[str, float]] = []

    def site(self) -> Site:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.forward)
        return Site(app)

    async def forward(self, request: web.Request) -> web.Response:
        self.arrivals.append((request.path, time.time()))
        async with (
            ClientSession() as session,
            session.request(
                request.method,
                self.target + request.path_qs,
                data=await request.read(),
                headers={k: v for k, v in request.headers.items() if k.lower() != "host"},
            ) as answer,
        ):
            body = await answer.read()
            kept = {"Content-Type": answer.headers.get("Content-Type", "application/json")}
            return web.Response(status=answer.status, body=body, headers=kept)


def shown(execution_id: str, console: str) -> dict[str, Any]:
    done = weir("executions", "show", execution_id, "--server", console, "--json")
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def test_weir_cancel_stops_an_http_call_through_the_console_within_a_second(
    tmp_path: Path,
) -> None:
    server = Hanging()
    slow = InThread(hanging_site(server))
    console, console_url = started_console("--store", f"sqlite:///{tmp_path}/console.db")
    stamping = StampingProxy(console_url)
    proxy = InThread(stamping.site())
    flow = write_flow(
        tmp_path / "flow.yaml",
        "trigger: {rest: {path: /call, mode: async}}",
        f"- {{name: call, http: {{url: '{slow.url}/', timeout: 1h}}}}",
    )
    try:
        runner_store = f"sqlite:///{tmp_path}/runner.db"
        with Served(flow, "--store", runner_store, "--console", console_url) as served:
            accepted = httpx.post(served.url + "/call", json={})
            assert accepted.status_code == 202, accepted.text
            execution_id = accepted.json()["executionId"]
            api = f"{console_url}/api/v1/executions/{execution_id}"
            wait_until(lambda: httpx.get(api).status_code == 200, what="shipped while running")
            wait_until(server.arrived.is_set, what="the HTTP call under way")

            cancelled = weir("cancel", execution_id, "--server", proxy.url)
            assert cancelled.returncode == 0, cancelled.stderr
            (asked,) = [t for path, t in stamping.arrivals if path.endswith("/cancel")]
            # Its handler cancelled: the client went away (seen at most 50 ms late).
            wait_until(server.aborted.is_set, timeout=5, what="the HTTP call aborted")
            assert time.time() - asked < 1.0

            def ended() -> bool:
                return bool(httpx.get(api).json()["execution"]["status"] == "cancelled")

            wait_until(ended, timeout=5, what="recorded cancelled at the console")
            execution = shown(execution_id, console_url)
            text = weir("executions", "show", execution_id, "--server", console_url).stdout
            assert "status     cancelled" in text.splitlines()
            assert execution["status"] == "cancelled"
            assert execution["error"]["type"] == "cancelled"
            finished = dt.datetime.fromisoformat(execution["finishedAt"]).timestamp()
            assert finished - asked < 1.0, f"cancelled {finished - asked:.2f}s after the request"
            assert httpx.get(served.url + "/readyz").json()["inFlight"] == 0
    finally:
        proxy.stop()
        console.terminate()
        console.wait(10)
        slow.stop()
