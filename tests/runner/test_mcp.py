"""The MCP trigger under `weir serve`, called with the official MCP client over streamable HTTP:
the tool is listed as configured, a call runs the flow, bad arguments and failed executions are
tool errors, and the runner keeps serving. The request guards it shares with the REST trigger
answer a missing token 401 and an oversized body 413 as JSON-RPC errors, before the MCP server
sees the request."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.runner.serving import ROOT, Served
from tests.runner.test_serve import write_flow

EXAMPLE = ROOT / "examples" / "mcp-tool" / "flow.yaml"
TOKEN = "t0ken-for-tests"
ENV = {"WEIR_SECRET_MCP_TOKEN": TOKEN}
AUTH = {"Authorization": f"Bearer {TOKEN}"}
STREAMABLE = {"Accept": "application/json, text/event-stream"}
HELLO = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-03-26",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"},
    },
}


@asynccontextmanager
async def connected(url: str) -> AsyncIterator[Any]:
    """The official client, its HTTP client sending the example's token."""
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    http = httpx2.AsyncClient(headers=AUTH, timeout=30)
    async with http, Client(streamable_http_client(url + "/mcp", http_client=http)) as client:
        yield client


def served_example(*args: str) -> Served:
    return Served(EXAMPLE, *args, env=ENV)


def rejected(served: Served) -> float:
    line = 'weir_trigger_events_total{flow="mcp-tool",outcome="rejected",trigger="mcp"} '
    for text in httpx.get(served.url + "/metrics").text.splitlines():
        if text.startswith(line):
            return float(text[len(line) :])
    return 0.0


async def test_the_example_tool_is_listed_and_answers(tmp_path: Path) -> None:
    with served_example("--store", f"sqlite:///{tmp_path}/s.db") as served:
        async with connected(served.url) as client:
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
    with served_example("--no-store") as served:
        async with connected(served.url) as client:
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
    with served_example("--no-store") as served:
        headers = {**STREAMABLE, **AUTH}
        started = httpx.post(served.url + "/mcp", json=HELLO, headers=headers)
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
        async with connected(served.url) as client:
            deep: object = 1
            for _ in range(200):
                deep = [deep]
            nested = await client.call_tool("convert_temperature", {"value": deep, "from": "x"})
            assert nested.is_error and "nested deeper than" in nested.content[0].text
        metrics = httpx.get(served.url + "/metrics").text
        assert 'status="succeeded"' not in metrics and 'status="failed"' not in metrics
    assert "Traceback" not in served.output()


def test_a_request_without_the_token_gets_401_with_the_challenge_and_runs_nothing() -> None:
    with served_example("--no-store") as served:
        url = served.url + "/mcp"
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic Ym9iOnB3"}):
            answer = httpx.post(url, json=HELLO, headers={**STREAMABLE, **headers})
            assert answer.status_code == 401, answer.text
            assert answer.headers["WWW-Authenticate"] == "Bearer"
            assert answer.json() == {
                "jsonrpc": "2.0",
                "id": None,
                "error": {"code": -32600, "message": "missing or invalid credentials"},
            }
        assert rejected(served) == 3
        fine = httpx.post(url, json=HELLO, headers={**STREAMABLE, **AUTH})
        assert fine.status_code == 200 and "text/event-stream" in fine.headers["Content-Type"]
        assert '"serverInfo"' in fine.text  # streamed by the SDK as a server-sent event
        assert httpx.post(url + "/", json=HELLO, headers={**STREAMABLE, **AUTH}).status_code == 200
        elsewhere = httpx.post(url + "/other", json=HELLO, headers={**STREAMABLE, **AUTH})
        assert (
            elsewhere.status_code == 404 and "no endpoint" in elsewhere.json()["error"]["message"]
        )
        assert 'status="succeeded"' not in httpx.get(served.url + "/metrics").text
    log = served.output()
    assert log.count("rejected POST /mcp: 401 missing or invalid credentials") == 3, log
    assert "Traceback" not in log and TOKEN not in log


async def test_an_oversized_request_gets_413_and_the_runner_keeps_serving() -> None:
    padding = "x" * 70_000  # the example's maxBodySize is 64Ki
    call = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "convert_temperature", "arguments": {"value": 1, "pad": padding}},
    }
    with served_example("--no-store") as served:
        url = served.url + "/mcp"
        declared = httpx.post(url, json=call, headers={**STREAMABLE, **AUTH})
        assert declared.status_code == 413, declared.text
        error = declared.json()["error"]
        assert error["code"] == -32600 and error["message"].endswith("the limit is 65536")
        assert declared.json()["id"] is None

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it streams
            yield b'{"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"pad": "'
            for _ in range(10):
                yield b"x" * 10_000
            yield b'"}}'

        streamed = httpx.post(
            url,
            content=chunks(),
            headers={**STREAMABLE, **AUTH, "Content-Type": "application/json"},
        )
        assert streamed.status_code == 413, streamed.text
        assert "larger than the limit of 65536 bytes" in streamed.json()["error"]["message"]
        # The size is checked before the credentials, as for REST: nothing is read for either.
        assert httpx.post(url, json=call, headers=STREAMABLE).status_code == 413
        assert rejected(served) == 3
        async with connected(served.url) as client:
            result = await client.call_tool("convert_temperature", {"value": 0, "from": "celsius"})
            assert result.structured_content["value"] == 32.0
    assert "Traceback" not in served.output()


def test_an_unreadable_token_makes_the_runner_unready_and_callers_get_503(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    served = Served(EXAMPLE, "--no-store", "--secrets-dir", str(secrets))
    try:
        ready = _eventually(lambda: _get(served.url + "/readyz"))
        assert ready.status_code == 503
        assert (
            "the MCP trigger's credentials cannot be checked: secret mcp/token"
            in (ready.json()["reason"])
        )
        answer = httpx.post(served.url + "/mcp", json=HELLO, headers={**STREAMABLE, **AUTH})
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
        assert answer.json()["error"]["code"] == -32603 and "mcp" not in answer.text.lower()
        (secrets / "mcp").mkdir()
        (secrets / "mcp" / "token").write_text(TOKEN)
        _eventually(
            lambda: (r := _get(served.url + "/readyz")) is not None and r.status_code == 200
        )
        fine = httpx.post(served.url + "/mcp", json=HELLO, headers={**STREAMABLE, **AUTH})
        assert fine.status_code == 200, fine.text
        log = served.output()
        assert log.count("WEIR_SECRET_MCP_TOKEN") == 1, log
        assert "Traceback" not in log
    finally:
        served.kill()


async def test_a_reload_that_moves_the_endpoint_is_followed(tmp_path: Path) -> None:
    flow = write_flow(
        tmp_path / "flow.yaml",
        "trigger: {mcp: {tool: echo, path: /tools}}",
        "- {name: echo, transform: {set: $.input}}",
    )
    with Served(flow, "--no-store") as served:
        assert httpx.post(served.url + "/tools", json=HELLO, headers=STREAMABLE).status_code == 200
        flow.write_text(flow.read_text().replace("path: /tools", "path: /tools/v2"))
        _eventually(
            lambda: (
                httpx.post(served.url + "/tools/v2", json=HELLO, headers=STREAMABLE).status_code
                == 200
            )
        )
        assert httpx.post(served.url + "/tools", json=HELLO, headers=STREAMABLE).status_code == 404


def test_the_readme_snippet_runs_against_the_example(tmp_path: Path) -> None:
    readme = (ROOT / "examples" / "mcp-tool" / "README.md").read_text()
    (snippet,) = re.findall(r"```python\n(.*?)```", readme, re.S)
    with Served(EXAMPLE, "--no-store", env={"WEIR_SECRET_MCP_TOKEN": "dev-token"}) as served:
        script = tmp_path / "call.py"
        script.write_text(snippet.replace("http://localhost:8080", served.url))
        done = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=ROOT
        )
    assert done.returncode == 0, done.stderr
    assert "convert_temperature" in done.stdout
    assert "'to': 'fahrenheit', 'value': 212.0" in done.stdout


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=2)
    except httpx.TransportError:
        return None


def _eventually(check: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")
