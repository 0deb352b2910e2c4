"""The MCP trigger: the flow offered as one tool over MCP's streamable HTTP transport.

The official SDK's session manager (stateless: every request stands alone, so any replica can
answer it) is an ASGI application; a small bridge serves it from the runner's aiohttp server,
streaming its answers (JSON or server-sent events) as they are written. The tool's name,
description and input schema are read from the current revision on every request, so a reload
takes effect at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import web

from weir import __version__
from weir.engine.executor import TriggerEvent
from weir.engine.service import FlowService
from weir.flow.triggers import McpTrigger
from weir.lang.expressions import json_default
from weir.triggers.rejection import PayloadError, loads_json

log = logging.getLogger("weir.trigger.mcp")


class McpEndpoint:
    def __init__(self, service: FlowService) -> None:
        self.service = service
        self._manager: Any = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._stop = asyncio.Event()

    @property
    def trigger(self) -> McpTrigger:
        trigger = self.service.flow.flow.spec.trigger.mcp
        assert trigger is not None
        return trigger

    @property
    def live(self) -> bool:
        return self._ready.is_set() and not self._stop.is_set()

    async def start(self) -> None:
        from mcp.server.lowlevel.server import Server
        from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

        server: Server[Any] = Server(
            "weir",
            version=__version__,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
        )
        self._manager = StreamableHTTPSessionManager(server, stateless=True)
        self._task = asyncio.get_running_loop().create_task(self._run())
        await self._ready.wait()

    async def _run(self) -> None:
        # The manager's task group lives in this task from start to stop.
        async with self._manager.run():
            self._ready.set()
            await self._stop.wait()

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    def matches(self, request: web.Request) -> bool:
        return request.path.rstrip("/") == self.trigger.path.rstrip("/")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if not self.live:
            return web.json_response(
                {"error": {"status": 503, "message": "the runner is shutting down"}}, status=503
            )
        return await serve_asgi(self._manager.handle_request, request)

    # MCP handlers

    async def _list_tools(self, ctx: Any, params: Any) -> Any:
        import mcp_types as types

        trigger = self.trigger
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
        trigger = self.trigger
        metrics, name = self.service.metrics, self.service.name
        metrics.trigger(name, "mcp", "received")
        if params.name != trigger.tool:
            metrics.trigger(name, "mcp", "rejected")
            return _error(f"unknown tool {params.name!r}; this server offers {trigger.tool!r}")
        if self.service.stopping:
            metrics.trigger(name, "mcp", "rejected")
            return _error("the runner is shutting down; call again")
        arguments = params.arguments or {}
        try:  # the same bounds as a REST body: no NaN or Infinity, no absurd nesting
            loads_json(json.dumps(arguments, default=str))
        except PayloadError as exc:
            metrics.trigger(name, "mcp", "rejected")
            return _error(f"the arguments are not acceptable JSON: {exc}")
        failures = _schema_failures(trigger.inputSchema, arguments)
        if failures:
            metrics.trigger(name, "mcp", "rejected")
            return _error("the arguments do not match the input schema: " + "; ".join(failures))
        result = await self.service.execute(
            TriggerEvent(kind="mcp", payload=arguments, meta={"tool": trigger.tool})
        )
        if not result.ok:
            error = result.error or {}
            where = f"node {error['node']}: " if error.get("node") else ""
            return _error(f"{where}{error.get('message', 'the execution failed')}")
        return _success(result.result)


def _schema_failures(schema: dict[str, Any], arguments: Any) -> list[str]:
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(schema)
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
        for error in sorted(validator.iter_errors(arguments), key=lambda e: list(e.absolute_path))
    ]


def _success(value: Any) -> Any:
    import mcp_types as types

    text = value if isinstance(value, str) else json.dumps(value, default=json_default)
    structured = json.loads(json.dumps(value, default=json_default))
    return types.CallToolResult(
        content=[types.TextContent(text=text)],
        structured_content=structured if isinstance(structured, dict) else None,
    )


def _error(message: str) -> Any:
    import mcp_types as types

    return types.CallToolResult(content=[types.TextContent(text=message)], is_error=True)


async def serve_asgi(app: Any, request: web.Request) -> web.StreamResponse:
    """Serve one HTTP request with an ASGI application, streaming what it sends."""
    body = await request.read()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": f"{request.version.major}.{request.version.minor}",
        "method": request.method,
        "scheme": request.scheme,
        "path": request.path,
        "raw_path": request.raw_path.split("?", 1)[0].encode(),
        "query_string": request.query_string.encode(),
        "root_path": "",
        "headers": [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in request.headers.items()
        ],
        "client": (request.remote or "", 0),
        "server": (request.host.split(":")[0], 0),
        "state": {},
    }
    delivered = False
    disconnected = asyncio.Event()
    response: web.StreamResponse | None = None

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await disconnected.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal response
        if message["type"] == "http.response.start":
            response = web.StreamResponse(status=message["status"])
            for key, value in message.get("headers", []):
                name = key.decode("latin-1")
                if name.lower() not in ("content-length", "transfer-encoding"):
                    response.headers.add(name, value.decode("latin-1"))
            await response.prepare(request)
        elif message["type"] == "http.response.body":
            assert response is not None
            chunk = message.get("body", b"")
            if chunk:
                await response.write(chunk)
            if not message.get("more_body", False):
                await response.write_eof()

    try:
        await app(scope, receive, send)
    finally:
        disconnected.set()
    if response is None:
        return web.Response(status=500, text="the MCP handler sent no answer")
    return response
