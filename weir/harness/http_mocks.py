"""Mocked HTTP answers: every HTTP client a node asks the engine's resources for is one httpx
client on a ``MockTransport`` answering from the case's mocks.

Node kinds share their HTTP clients through ``Resources`` under keys that start with
``"http"`` (the http and llm nodes); ``MockedResources`` hands out the mock client for every
such key. A request no mock matches fails the node with an ``unmocked`` error, not retried:
a test never reaches the network.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from fnmatch import fnmatchcase
from typing import Any, TypeVar, cast

import httpx

from weir.harness.spec import HttpMock
from weir.lang.errors import NodeError
from weir.nodes.resources import Resources

T = TypeVar("T")


class UnmockedRequest(NodeError):
    type = "unmocked"
    retryable = False


class HttpMocks:
    """Answers requests from the mocks in order: the first whose method and URL match and
    whose ``times`` are not used up."""

    def __init__(self, mocks: list[HttpMock]) -> None:
        self.mocks = mocks
        self.used = [0] * len(mocks)
        self.requests: list[dict[str, Any]] = []
        """What the flow sent, for ``expect.requests``."""

    async def answer(self, request: httpx.Request) -> httpx.Response:
        method, url = request.method, str(request.url)
        self.requests.append(_seen(request, await request.aread()))
        for n, mock in enumerate(self.mocks):
            if mock.method not in (None, method) or not fnmatchcase(url, mock.url):
                continue
            if mock.times is not None and self.used[n] >= mock.times:
                continue
            self.used[n] += 1
            if mock.delay:
                await asyncio.sleep(mock.delay)
            return _response(mock)
        raise UnmockedRequest(f"unmocked request {method} {url}")

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.answer))


def _seen(request: httpx.Request, content: bytes) -> dict[str, Any]:
    """A request as ``expect.requests`` matches it: the body under ``json`` when it is JSON,
    else as text under ``body``; header names in lower case."""
    seen: dict[str, Any] = {
        "method": request.method,
        "url": str(request.url),
        "headers": {name.lower(): value for name, value in request.headers.items()},
    }
    if content:
        try:
            seen["json"] = json.loads(content)
        except ValueError:
            seen["body"] = content.decode("utf-8", "replace")
    return seen


def _response(mock: HttpMock) -> httpx.Response:
    headers = httpx.Headers(mock.headers)
    if "json_" in mock.model_fields_set:
        content = json.dumps(mock.json_).encode()
        headers.setdefault("content-type", "application/json")
    else:
        content = (mock.body or "").encode()
        if mock.body is not None:
            headers.setdefault("content-type", "text/plain; charset=utf-8")
    return httpx.Response(mock.status, headers=headers, content=content)


class MockedResources(Resources):
    """The engine's shared clients, with the mock client for every HTTP client key."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        super().__init__()
        self.client = client

    def get(self, key: Any, factory: Callable[[], T], close: Callable[[T], Any] | None = None) -> T:
        if isinstance(key, tuple) and key[:1] == ("http",):
            return cast(T, self.client)
        return super().get(key, factory, close)

    async def aclose(self) -> None:
        await super().aclose()
        await self.client.aclose()
