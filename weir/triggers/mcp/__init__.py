"""The MCP trigger kind: the flow offered as one tool over MCP's streamable HTTP transport.

``endpoint`` holds the runtime and the tool, ``http`` what sits between the runner's aiohttp
server and the MCP SDK's ASGI application (the resource, the guards' answers, the body replay).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from weir.engine.service import FlowService
from weir.flow.triggers import McpTrigger
from weir.triggers.kind import TriggerKind, TriggerSettings

if TYPE_CHECKING:
    from weir.triggers.mcp.endpoint import McpEndpoint


def _endpoint(service: FlowService, settings: TriggerSettings) -> McpEndpoint:
    from weir.triggers.mcp.endpoint import McpEndpoint  # aiohttp and the MCP SDK: the runner extra

    return McpEndpoint(service, settings)


KIND = TriggerKind(
    name="mcp",
    spec=McpTrigger,
    runtime=_endpoint,
    summary="offers the flow as a tool over MCP's streamable HTTP transport",
)
