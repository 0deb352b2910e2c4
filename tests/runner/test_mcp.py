"""The MCP trigger under `weir serve`, called with the official MCP client over streamable HTTP:
the tool is listed as configured, a call runs the flow, bad arguments and failed executions are
tool errors, and the runner keeps serving."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.runner.serving import ROOT, Served
from tests.runner.test_serve import write_flow

EXAMPLE = ROOT / "examples" / "mcp-tool" / "flow.yaml"


async def test_the_example_tool_is_listed_and_answers(tmp_path: Path) -> None:
    from mcp import Client

    with Served(EXAMPLE, "--store", f"sqlite:///{tmp_path}/s.db") as served:
        async with Client(served.url + "/mcp") as client:
            (tool,) = (await client.list_tools()).tools
            assert tool.name == "convert_temperature"
            assert tool.description == "Convert a temperature between Celsius and Fahrenheit."
            assert tool.input_schema["required"] == ["value", "from"]
            result = await client.call_tool(
                "convert_temperature", {"value": 100, "from": "celsius"}
            )
            assert not result.is_error
            assert result.structured_content == {
                "input": 100.0,
                "from": "celsius",
                "to": "fahrenheit",
                "value": 212.0,
            }
            back = await client.call_tool(
                "convert_temperature", {"value": 212, "from": "fahrenheit"}
            )
            assert back.structured_content["value"] == 100.0
        metrics = httpx.get(served.url + "/metrics").text
        assert 'weir_executions_total{flow="mcp-tool",status="succeeded"} 2.0' in metrics
        assert httpx.get(served.url + "/readyz").json()["trigger"] == "mcp"


async def test_invalid_arguments_are_a_tool_error_listing_the_failures(tmp_path: Path) -> None:
    from mcp import Client

    with Served(EXAMPLE, "--no-store") as served:
        async with Client(served.url + "/mcp") as client:
            result = await client.call_tool("convert_temperature", {"value": "hot"})
            assert result.is_error
            (text,) = [c.text for c in result.content]
            assert (
                "'from' is a required property" in text
                and "value: 'hot' is not of type 'number'" in text
            )
            unknown = await client.call_tool("no_such_tool", {})
            assert unknown.is_error and "offers 'convert_temperature'" in unknown.content[0].text
            again = await client.call_tool("convert_temperature", {"value": 0, "from": "celsius"})
            assert again.structured_content["value"] == 32.0


async def test_a_failed_execution_is_a_tool_error_naming_the_node(tmp_path: Path) -> None:
    from mcp import Client

    flow = write_flow(
        tmp_path / "flow.yaml",
        "trigger: {mcp: {tool: divide, inputSchema: {type: object}}}",
        '- {name: divide, transform: {set: "${input.a / input.b}"}}',
    )
    with Served(flow, "--no-store") as served:
        async with Client(served.url + "/mcp") as client:
            result = await client.call_tool("divide", {"a": 1, "b": 0})
            assert result.is_error and result.content[0].text.startswith("node divide: ")
            fine = await client.call_tool("divide", {"a": 6, "b": 3})
            assert not fine.is_error and fine.content[0].text == "2"


async def test_nan_and_deep_arguments_are_refused_and_nothing_runs(tmp_path: Path) -> None:
    """The same bounds as a REST body: NaN would come back as invalid JSON, and nesting past
    the limit is refused."""
    from mcp import Client

    with Served(EXAMPLE, "--no-store") as served:
        headers = {"Accept": "application/json, text/event-stream"}
        hello = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-03-26",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "1"},
            },
        }
        started = httpx.post(served.url + "/mcp", json=hello, headers=headers)
        session = started.headers.get("mcp-session-id")
        if session:
            headers["mcp-session-id"] = session
        # Written by hand: JSON libraries will not send NaN.
        nan = (
            '{"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": '
            '"convert_temperature", "arguments": {"value": NaN, "from": "celsius"}}}'
        )
        answer = httpx.post(
            served.url + "/mcp",
            content=nan,
            headers={**headers, "Content-Type": "application/json"},
        )
        assert "NaN is not a JSON value" in answer.text and '"isError":true' in answer.text
        async with Client(served.url + "/mcp") as client:
            deep: object = 1
            for _ in range(200):
                deep = [deep]
            nested = await client.call_tool("convert_temperature", {"value": deep, "from": "x"})
            assert nested.is_error and "nested deeper than" in nested.content[0].text
        metrics = httpx.get(served.url + "/metrics").text
        assert 'status="succeeded"' not in metrics and 'status="failed"' not in metrics
    assert "Traceback" not in served.output()
