"""The MCP trigger: the flow offered as one tool over MCP's streamable HTTP transport.

The official SDK's session manager (stateless: every request stands alone, so any replica can
answer it) serves the endpoint through ``aiohttp-asgi`` (:mod:`weir.triggers.mcp.http`). Before
the SDK sees a request, the shared request guards check it as they check a REST request: the
body size (413), credentials (401 with ``WWW-Authenticate``, 503 while they cannot be read),
the body's arrival (408) and end (400). The tool's name, description and input schema are read
from the current revision on every request, so a reload takes effect at once; the arguments of
a call are checked against the input schema, compiled once per revision.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from weir import __version__
from weir.engine.executor import TriggerEvent
from weir.engine.service import FlowService
from weir.flow.load import CompiledFlow
from weir.flow.triggers import McpTrigger
from weir.lang.expressions import json_default
from weir.store.base import RecordingUnavailable
from weir.triggers.guards import RequestGuards, SchemaCheck, log_refusal
from weir.triggers.guards.body import asgi_chunks
from weir.triggers.kind import TriggerSettings
from weir.triggers.mcp.http import (
    McpResource,
    Receive,
    Scope,
    Send,
    content_length,
    replayed,
    request_headers,
    send_refusal,
)
from weir.triggers.rejection import PayloadError, Rejection, loads_json

log = logging.getLogger("weir.trigger.mcp")


def _mcp(flow: CompiledFlow) -> McpTrigger:
    trigger = flow.flow.spec.trigger.mcp
    assert trigger is not None
    return trigger


class McpEndpoint:
    def __init__(self, service: FlowService, settings: TriggerSettings) -> None:
        self.service = service
        self.guards = RequestGuards("MCP", service, settings.body_timeout, log)
        self.schema = SchemaCheck(lambda flow: _mcp(flow).inputSchema)
        self._resource = McpResource(self._serve, lambda: _mcp(self.service.flow).path)
        self._manager: Any = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._stop = asyncio.Event()

    @property
    def live(self) -> bool:
        return self._ready.is_set() and not self._stop.is_set()

    def resources(self) -> Sequence[web.AbstractResource]:
        return [self._resource]

    def problem(self) -> str | None:
        return self.guards.problem(_mcp(self.service.flow))

    def reloaded(self, old: CompiledFlow, new: CompiledFlow) -> None:
        """Nothing to do: every request reads the revision current when it arrives."""

    async def start(self) -> None:
        from mcp.server.lowlevel.server import Server
        from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

        server: Server[Any] = Server(
            "weir",
            version=__version__,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
        )
        # The guards bound the body by the revision's maxBodySize; the SDK's own, fixed cap
        # (a plain-text 413) would otherwise refuse bodies that a larger limit allows.
        self._manager = StreamableHTTPSessionManager(
            server, stateless=True, max_request_body_size=sys.maxsize
        )
        self._task = asyncio.get_running_loop().create_task(self._run())
        ready = asyncio.ensure_future(self._ready.wait())
        await asyncio.wait((ready, self._task), return_when=asyncio.FIRST_COMPLETED)
        if self._task.done():  # the manager failed to start: say why rather than wait forever
            ready.cancel()
            self._task.result()

    async def _run(self) -> None:
        # The manager's task group lives in this task from start to stop.
        async with self._manager.run():
            self._ready.set()
            await self._stop.wait()

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI application the resource serves: the guards, then the SDK."""
        try:
            body = await self._admit(scope, receive)
        except Rejection as rejection:
            self._count("rejected")
            log_refusal(log, scope["method"], scope["path"], rejection)
            await send_refusal(send, rejection)
            return
        async with replayed(body) as replay:
            await self._manager.handle_request(scope, replay, send)

    async def _admit(self, scope: Scope, receive: Receive) -> bytes:
        if not self.live:
            doing = "shutting down" if self._stop.is_set() else "starting"
            raise Rejection(503, f"the runner is {doing}", headers={"Retry-After": "5"})
        if scope["type"] != "http":
            raise Rejection(400, "MCP's streamable HTTP transport does not use WebSocket")
        headers = request_headers(scope)
        return await self.guards.admit(
            _mcp(self.service.flow), headers, content_length(headers), asgi_chunks(receive)
        )

    # MCP handlers

    async def _list_tools(self, ctx: Any, params: Any) -> Any:
        import mcp_types as types

        trigger = _mcp(self.service.flow)
        return types.ListToolsResult(
            tools=[
                types.Tool(
                    name=trigger.tool,
                    description=trigger.description or None,
                    input_schema=trigger.inputSchema,
                )
            ]
        )

    async def _call_tool(self, ctx: Any, params: Any) -> Any:
        flow = self.service.flow  # the call runs on the revision current now
        trigger = _mcp(flow)
        self._count("received")
        if params.name != trigger.tool:
            return self._refuse(
                f"unknown tool {params.name!r}; this server offers {trigger.tool!r}"
            )
        if self.service.stopping:
            return self._refuse("the runner is shutting down; call again")
        arguments = params.arguments or {}
        try:  # the same bounds as a REST body: no NaN or Infinity, no absurd nesting
            loads_json(json.dumps(arguments, default=str))
        except PayloadError as exc:
            return self._refuse(f"the arguments are not acceptable JSON: {exc}")
        failures = self.schema.failures(flow, arguments)
        if failures:
            return self._refuse(
                "the arguments do not match the input schema: " + "; ".join(failures)
            )
        event = TriggerEvent(kind="mcp", payload=arguments, meta={"tool": trigger.tool})
        try:
            result = await self.service.execute(event, flow)
        except RecordingUnavailable as exc:  # it ran, but an answer needs its record committed
            return _error(f"the execution is not recorded: {exc}")
        if result.status == "waiting":  # parked (a wait, a sleep): not a failure
            return _success({"executionId": result.id, "status": "waiting"})
        if not result.ok:
            error = result.error or {}
            where = f"node {error['node']}: " if error.get("node") else ""
            return _error(f"{where}{error.get('message', 'the execution failed')}")
        return _success(result.result)

    def _refuse(self, message: str) -> Any:
        """A tool error for a call that runs nothing, counted as rejected."""
        self._count("rejected")
        return _error(message)

    def _count(self, outcome: str) -> None:
        self.service.metrics.trigger(self.service.name, "mcp", outcome)


def _success(value: Any) -> Any:
    import mcp_types as types

    dumped = json.dumps(value, default=json_default)
    text = value if isinstance(value, str) else dumped
    structured = json.loads(dumped)
    return types.CallToolResult(
        content=[types.TextContent(text=text)],
        structured_content=structured if isinstance(structured, dict) else None,
    )


def _error(message: str) -> Any:
    import mcp_types as types

    return types.CallToolResult(content=[types.TextContent(text=message)], is_error=True)
