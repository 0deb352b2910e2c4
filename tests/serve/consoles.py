"""A stand-in for the console's runner endpoints, for failure injection (the end-to-end tests
use the real console): it answers what a test scripts, and keeps what it took."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from typing import Any

from aiohttp import web

from weir.lang.ids import new_execution_id
from weir.store.records import ExecutionRecord, NodeRunRecord, Status


class FakeConsole:
    def __init__(self) -> None:
        self.received: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.answers: list[int] = []
        """Statuses to answer ingest with first, one per request, before taking anything."""
        self.refuse: set[str] = set()
        """Execution ids refused with 400 (the whole request, as a console does)."""
        self.requests = 0
        self.runners: set[str] = set()
        self.cancel: list[str] = []
        self.polls: list[dict[str, str]] = []
        self.tokens: list[str | None] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self, port: int = 0) -> str:
        app = web.Application(client_max_size=64 * 1024**2)
        app.router.add_post("/api/v1/ingest", self._ingest)
        app.router.add_get("/api/v1/cancellations", self._cancellations)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _ingest(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests += 1
        self.tokens.append(request.headers.get("Authorization"))
        if self.answers:
            status = self.answers.pop(0)
            return web.json_response({"title": "scripted", "detail": "try later"}, status=status)
        for index, execution in enumerate(body["executions"]):
            if execution["id"] in self.refuse:
                detail = f"executions[{index}].status: one of running, succeeded, failed"
                return web.json_response({"title": "bad", "detail": detail}, status=400)
        self.runners.add(body["runner"])
        for execution in body["executions"]:
            self.received[execution["id"]].append(execution)
        return web.json_response({"accepted": len(body["executions"])})

    async def _cancellations(self, request: web.Request) -> web.Response:
        self.polls.append(dict(request.query))
        deadline = time.monotonic() + float(request.query.get("wait", "0"))
        while not self.cancel and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        ids, self.cancel = self.cancel, []
        return web.json_response({"executions": ids})

    def duplicates(self) -> list[str]:
        """Ids delivered more than once with the same content (a finished execution is
        delivered once; one caught running and then finished twice, differently)."""
        return [
            key
            for key, deliveries in self.received.items()
            if len({repr(sorted(d.items())) for d in deliveries}) != len(deliveries)
        ]


def finished(store: Any, n: int, flow: str = "shipped", started: float | None = None) -> list[str]:
    """Record ``n`` finished executions of one node each; their ids."""
    ids = []
    for _ in range(n):
        execution_id = new_execution_id()
        at = time.time() if started is None else started
        store.record_execution(
            ExecutionRecord(
                id=execution_id,
                flow=flow,
                revision="r1",
                trigger_kind="manual",
                trigger={"payload": {"n": len(ids)}},
                status=Status.SUCCEEDED,
                started_at=at,
                finished_at=at + 0.01,
                result={"ok": True},
            )
        )
        store.record_node(
            NodeRunRecord(
                execution_id=execution_id,
                seq=1,
                node="only",
                kind="transform",
                status=Status.SUCCEEDED,
                started_at=at,
                finished_at=at + 0.01,
                attempts=[{"attempt": 1, "startedAt": at, "durationMs": 10.0}],
                input={"n": len(ids)},
                output={"ok": True},
            )
        )
        ids.append(execution_id)
    return ids


async def eventually(check: Any, timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what or check}")
        await asyncio.sleep(0.02)


class InThread:
    """A console (anything with async ``start(port)`` and ``stop()``) served from a thread of
    its own, for tests that drive processes synchronously."""

    def __init__(self, console: Any, port: int = 0) -> None:
        import threading

        self.console = console
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.url: str = self.call(console.start(port))

    def call(self, coroutine: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self) -> None:
        self.call(self.console.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def wait_until(check: Any, timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what or check}")
        time.sleep(0.05)


class RealConsole:
    """The console itself (weir.console) on a store of its own, local mode: what runners ship
    to in the end-to-end tests. Stopped and started again on the same store and port, it is
    a console restarting."""

    def __init__(self, store: str) -> None:
        self.store = store
        self.server: Any = None

    async def start(self, port: int = 0) -> str:
        from weir.console.server import ConsoleOptions, ConsoleServer

        self.server = ConsoleServer(ConsoleOptions(store=self.store, port=port, poll=0.05))
        await self.server.start()
        return f"http://127.0.0.1:{self.server.port}"

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
            self.server = None
