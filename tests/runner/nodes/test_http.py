"""The http node against a real local aiohttp server: methods, bodies, auth, answers, errors and
connection reuse."""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

from tests.conftest import spool_path
from tests.runner.serving import free_port
from weir.engine.executor import Engine, ExecutionResult, TriggerEvent
from weir.flow.load import load_flows_text
from weir.lang.errors import ConfigError, ConnectionFailed, NodeError, NodeTimeout
from weir.nodes.context import NodeContext
from weir.nodes.http import HttpConfig, retry_after, run
from weir.nodes.spool import file_ref
from weir.secrets.resolve import LocalSecretResolver


class Server:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.peers: set[Any] = set()
        self.flaky = 0
        self.busy = 0
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.peers.add(request.transport.get_extra_info("peername") if request.transport else None)
        self.requests.append(
            {
                "method": request.method,
                "path": request.path,
                "query": list(request.query.items()),
                "headers": dict(request.headers),
                "body": body,
            }
        )
        path = request.path
        if path == "/json":
            return web.json_response({"ok": True, "got": body.decode() or None})
        if path == "/text":
            return web.Response(text="plain words")
        if path == "/bytes":
            return web.Response(body=b"\x00\x01\x02", content_type="application/octet-stream")
        if path.startswith("/status/"):
            status = int(path.rsplit("/", 1)[1])
            wait = {"Retry-After": request.query["wait"]} if "wait" in request.query else None
            return web.json_response({"error": f"status {status}"}, status=status, headers=wait)
        if path.startswith("/busy/"):  # busy the first time, asking to wait; then an answer
            self.busy += 1
            if self.busy > 1 and path != "/busy/long":
                return web.json_response({"attempt": self.busy})
            return web.Response(
                status=503 if path == "/busy/date" else 429, headers={"Retry-After": _wait(path)}
            )
        if path == "/slow":
            await asyncio.sleep(2)
            return web.Response(text="late")
        if path == "/echo-auth":
            return web.json_response({"youSent": request.headers.get("Authorization")})
        if path == "/leak":  # a 500 whose body holds the bearer token across byte 500
            token = request.headers.get("Authorization", "").removeprefix("Bearer ")
            return web.Response(status=500, text="x" * 490 + token)
        if path == "/redirect":
            raise web.HTTPFound("/json")
        if path == "/flaky":
            self.flaky += 1
            if self.flaky < 3:
                return web.Response(status=503, text="warming up")
            return web.json_response({"attempt": self.flaky})
        return web.Response(status=404, text="no such page")


def _wait(path: str) -> str:
    if path == "/busy/date":  # whole seconds: 3 s ahead is 2 s ahead at least
        return email.utils.formatdate(time.time() + 3, usegmt=True)
    return "120" if path == "/busy/long" else "1"


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    state = Server()
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", state.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    state.url = f"http://127.0.0.1:{port}"
    yield state
    await runner.cleanup()


def config(**fields: Any) -> HttpConfig:
    return HttpConfig.model_validate(fields)


async def test_a_json_post_with_headers_and_query(
    server: Server, make_ctx: Callable[..., NodeContext]
) -> None:
    ctx = make_ctx(scope={"input": {"id": 7, "tags": ["a", "b"]}})
    out = await run(
        config(
            url=server.url + "/json",
            method="POST",
            headers={"X-Trace": "t-${input.id}"},
            query={"tag": "$.input.tags", "n": 1},
            json={"id": "$.input.id"},
        ),
        ctx,
    )
    assert out["status"] == 200 and out["body"]["ok"] is True
    seen = server.requests[-1]
    assert seen["method"] == "POST" and seen["headers"]["X-Trace"] == "t-7"
    assert seen["query"] == [("tag", "a"), ("tag", "b"), ("n", "1")]
    assert seen["body"] == b'{"id": 7}' and seen["headers"]["Content-Type"] == "application/json"


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"])
async def test_every_method_reaches_the_server(
    server: Server, make_ctx: Callable[..., NodeContext], method: str
) -> None:
    out = await run(config(url=server.url + "/json", method=method), make_ctx())
    assert out["status"] == 200 and server.requests[-1]["method"] == method


async def test_form_and_raw_bodies(
    server: Server, make_ctx: Callable[..., NodeContext], tmp_path: Any
) -> None:
    await run(
        config(url=server.url + "/json", method="POST", form={"a": "1", "b": ["x", "y"]}),
        make_ctx(),
    )
    assert server.requests[-1]["body"] == b"a=1&b=x&b=y"
    await run(
        config(url=server.url + "/json", method="POST", body="<x/>", contentType="application/xml"),
        make_ctx(),
    )
    assert server.requests[-1]["body"] == b"<x/>"
    assert server.requests[-1]["headers"]["Content-Type"] == "application/xml"
    big = spool_path("big.bin")
    big.write_bytes(b"z" * 3_000_000)
    ctx = make_ctx(scope={"input": {"file": file_ref(big, "big.bin", size=3_000_000)}})
    await run(config(url=server.url + "/json", method="PUT", body="$.input.file"), ctx)
    assert server.requests[-1]["body"] == b"z" * 3_000_000


async def test_bearer_and_basic_auth_come_from_secrets_and_never_show(
    server: Server, make_ctx: Callable[..., NodeContext]
) -> None:
    secrets = {("crm", "token"): "tok-123456", ("crm", "password"): "pw-123456"}
    ctx = make_ctx(secrets=secrets)
    out = await run(
        config(url=server.url + "/json", auth={"bearer": {"secret": "crm", "key": "token"}}), ctx
    )
    assert server.requests[-1]["headers"]["Authorization"] == "Bearer tok-123456"
    assert "tok-123456" not in str(out) and "tok-123456" not in str(ctx.input)
    await run(
        config(
            url=server.url + "/json",
            auth={"basic": {"username": "ada", "password": {"secret": "crm", "key": "password"}}},
        ),
        make_ctx(secrets=secrets),
    )
    assert server.requests[-1]["headers"]["Authorization"].startswith("Basic ")


async def test_answers_are_parsed_by_content_type_or_as_asked(
    server: Server, make_ctx: Callable[..., NodeContext]
) -> None:
    assert (await run(config(url=server.url + "/text"), make_ctx()))["body"] == "plain words"
    assert (await run(config(url=server.url + "/bytes"), make_ctx()))["body"] == b"\x00\x01\x02"
    as_text = await run(config(url=server.url + "/json", responseType="text"), make_ctx())
    assert as_text["body"].startswith('{"ok"')
    redirected = await run(config(url=server.url + "/redirect"), make_ctx())
    assert redirected["body"]["ok"] is True


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(500, True), (503, True), (429, True), (408, True), (404, False), (400, False), (401, False)],
)
async def test_non_2xx_answers_are_errors_carrying_the_status(
    server: Server, make_ctx: Callable[..., NodeContext], status: int, retryable: bool
) -> None:
    with pytest.raises(NodeError) as caught:
        await run(config(url=f"{server.url}/status/{status}"), make_ctx())
    assert caught.value.type == "http" and caught.value.retryable is retryable
    assert caught.value.details["status"] == status
    assert caught.value.details["body"] == {"error": f"status {status}"}
    assert f"answered {status}" in caught.value.message


async def test_an_expected_status_is_a_success(
    server: Server, make_ctx: Callable[..., NodeContext]
) -> None:
    out = await run(config(url=f"{server.url}/status/404", expectStatus=[404]), make_ctx())
    assert out["status"] == 404


async def test_refused_connections_and_timeouts_are_retryable(
    server: Server, make_ctx: Callable[..., NodeContext]
) -> None:
    with pytest.raises(ConnectionFailed) as refused:
        await run(config(url=f"http://127.0.0.1:{free_port()}/x"), make_ctx())
    assert refused.value.retryable
    with pytest.raises(NodeTimeout) as slow:
        await run(config(url=server.url + "/slow", timeout="200ms"), make_ctx())
    assert slow.value.retryable and "timed out after 0.2s" in slow.value.message


async def test_a_url_without_http_is_a_config_error(make_ctx: Callable[..., NodeContext]) -> None:
    with pytest.raises(ConfigError, match="must start with http:// or https://, got 'ftp://x'"):
        await run(config(url="ftp://x"), make_ctx())


def test_two_bodies_are_refused_when_the_flow_is_loaded() -> None:
    with pytest.raises(ValueError, match="one body; found json, form"):
        config(url="http://x", json={"a": 1}, form={"b": 2})


async def test_connections_are_reused_across_requests(
    server: Server, make_ctx: Callable[..., NodeContext]
) -> None:
    for _ in range(5):
        await run(config(url=server.url + "/json"), make_ctx())
    assert len(server.peers) == 1


async def _call_with_retries(server: Server, path: str) -> ExecutionResult:
    (flow,) = load_flows_text(
        f"""
apiVersion: weir.dev/v1alpha1
kind: Flow
metadata: {{name: waiting}}
spec:
  trigger: {{manual: {{}}}}
  nodes:
    - name: call
      http: {{url: "{server.url}{path}"}}
      retry: {{maxAttempts: 3, backoff: fixed, initialDelay: 10ms, maxDelay: 5s, jitter: false}}
"""
    )
    engine = Engine(secrets=LocalSecretResolver(environ={}))
    try:
        return await engine.execute(flow, TriggerEvent(payload={}))
    finally:
        await engine.aclose()


async def test_a_flow_retries_a_503_then_succeeds(server: Server) -> None:
    result = await _call_with_retries(server, "/flaky")
    assert result.ok and result.result["body"] == {"attempt": 3}
    (record,) = result.nodes
    statuses = [a["error"]["status"] if a["error"] else None for a in record.attempts]
    assert statuses == [503, 503, None]


async def test_the_basic_auth_header_is_scrubbed_like_the_password(
    server: Server, make_ctx: Callable[..., NodeContext]
) -> None:
    ctx = make_ctx(secrets={("crm", "password"): "pw-123456"})
    auth = {"basic": {"username": "ada", "password": {"secret": "crm", "key": "password"}}}
    out = await run(config(url=server.url + "/echo-auth", auth=auth), ctx)
    sent = out["body"]["youSent"]
    assert sent.startswith("Basic ")
    assert ctx.secrets.redact(str(out)) == str(out).replace(sent.removeprefix("Basic "), "***")


async def test_an_error_preview_never_keeps_half_a_secret(
    server: Server, make_ctx: Callable[..., NodeContext]
) -> None:
    secret = "canary-7f3e9a1b-d0c4"
    ctx = make_ctx(secrets={("crm", "token"): secret})
    auth = {"bearer": {"secret": "crm", "key": "token"}}
    with pytest.raises(NodeError) as caught:
        await run(config(url=f"{server.url}/leak", auth=auth), ctx)
    assert secret[:10] not in caught.value.message and "***" in caught.value.message
    assert secret[:10] not in str(caught.value.details)


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC).timestamp()
    assert retry_after("7", now) == 7.0
    assert retry_after(" 0 ", now) == 0.0
    assert retry_after("Wed, 01 May 2024 12:00:30 GMT", now) == 30.0
    assert retry_after("Wed, 01 May 2024 12:00:30 -0000", now) == 30.0
    assert retry_after("Wed, 01 May 2024 11:00:00 GMT", now) == 0.0  # already past
    for unreadable in (None, "", "soon", "-5", "1.5", "²", "Wed, 32 May 2024 12:00:30 GMT"):
        assert retry_after(unreadable, now) is None, unreadable


@pytest.mark.parametrize(("status", "wait"), [(429, 5.0), (503, 5.0), (500, None), (408, None)])
async def test_429_and_503_carry_the_wait_their_retry_after_asks_for(
    server: Server, make_ctx: Callable[..., NodeContext], status: int, wait: float | None
) -> None:
    with pytest.raises(NodeError) as caught:
        await run(config(url=f"{server.url}/status/{status}?wait=5"), make_ctx())
    assert caught.value.retry_after == wait and caught.value.retryable
    recorded = caught.value.to_dict()
    assert recorded.get("retryAfter") == wait and ("retryAfter" in recorded) is (wait is not None)


async def test_a_503_without_retry_after_carries_no_wait(
    server: Server, make_ctx: Callable[..., NodeContext]
) -> None:
    with pytest.raises(NodeError) as caught:
        await run(config(url=f"{server.url}/status/503"), make_ctx())
    assert caught.value.retry_after is None and "retryAfter" not in caught.value.to_dict()


def _seconds_between_attempts(attempts: list[dict[str, Any]]) -> float:
    first, second = (dt.datetime.fromisoformat(a["startedAt"]) for a in attempts)
    return (second - first).total_seconds()


async def test_a_429_retry_after_in_seconds_is_waited_for(server: Server) -> None:
    result = await _call_with_retries(server, "/busy/seconds")
    assert result.ok and result.result["body"] == {"attempt": 2}
    (record,) = result.nodes
    assert record.attempts[0]["error"]["status"] == 429
    assert record.attempts[0]["error"]["retryAfter"] == 1.0
    # The policy alone would have waited 10 ms.
    assert _seconds_between_attempts(record.attempts) >= 1.0


async def test_a_503_retry_after_as_an_http_date_is_waited_for(server: Server) -> None:
    result = await _call_with_retries(server, "/busy/date")
    assert result.ok
    (record,) = result.nodes
    asked = record.attempts[0]["error"]["retryAfter"]
    assert record.attempts[0]["error"]["status"] == 503 and asked >= 1.0
    assert _seconds_between_attempts(record.attempts) >= asked


async def test_a_retry_after_longer_than_max_delay_fails_without_waiting(server: Server) -> None:
    result = await _call_with_retries(server, "/busy/long")
    assert result.status == "failed" and server.busy == 1
    assert result.error is not None
    assert result.error["retryAfter"] == 120.0 and result.error["attempts"] == 1
    assert result.error["message"].endswith(
        "(the server asked to wait 120s before trying again, longer than retry.maxDelay 5s: "
        "not retried)"
    )
    (record,) = result.nodes
    assert record.error == {k: v for k, v in result.error.items() if k not in ("node", "kind")}
