"""Between the runner's aiohttp server and the MCP SDK's ASGI application.

The SDK's session manager is served by ``aiohttp-asgi``'s :class:`ASGIResource`, which streams
each answer (JSON or server-sent events) as the SDK writes it. Two things are added here:

* the resource matches the current revision's path only (with or without a trailing slash),
  not every path below it, and follows a reload that moves it;
* the body the guards read is handed to the SDK by :func:`replayed`, which then waits rather
  than answering again. The adapter's own ``receive`` returns an empty ``http.request`` at
  once for every call after the body, where ASGI expects a wait ending in ``http.disconnect``:
  an SSE answer listens for the disconnect in a loop, and that loop would never yield.

A refusal is answered as the SDK answers its own transport errors: the HTTP status, and a
JSON-RPC error object with ``id`` null (``-32600`` for the caller's fault, ``-32603`` for the
runner's), plus the refusal's headers (``WWW-Authenticate``, ``Retry-After``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from aiohttp_asgi import ASGIResource
from multidict import CIMultiDict

from weir.triggers.rejection import Rejection

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]

INVALID_REQUEST = -32600
INTERNAL_ERROR = -32603


class McpResource(ASGIResource):
    """Mounted at the root, so that the router asks it about every path; it answers only for
    the MCP endpoint's path of the current revision."""

    def __init__(self, app: AsgiApp, path: Callable[[], str]) -> None:
        super().__init__(app, root_path="/")  # type: ignore[arg-type]  # a MutableMapping scope
        self._path = path

    def raw_match(self, path: str) -> bool:
        return path.rstrip("/") == self._path().rstrip("/")


def request_headers(scope: Scope) -> CIMultiDict[str]:
    """The request's headers, looked up case-insensitively."""
    return CIMultiDict(
        (name.decode("latin-1"), value.decode("latin-1")) for name, value in scope["headers"]
    )


def content_length(headers: CIMultiDict[str]) -> int | None:
    """The declared body length; aiohttp has already refused a malformed one."""
    value = headers.get("Content-Length", "").strip()
    return int(value) if value.isdigit() else None


@asynccontextmanager
async def replayed(body: bytes) -> AsyncIterator[Receive]:
    """An ASGI ``receive`` that gives ``body`` once, then waits until the application is done
    (and says ``http.disconnect`` to anything still listening after that)."""
    done = asyncio.Event()
    delivered = False

    async def receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    try:
        yield receive
    finally:
        done.set()


async def send_refusal(send: Send, rejection: Rejection) -> None:
    error: dict[str, Any] = {
        "code": INVALID_REQUEST if rejection.status < 500 else INTERNAL_ERROR,
        "message": rejection.message,
    }
    if rejection.details:
        error["data"] = {"details": rejection.details}
    body = json.dumps({"jsonrpc": "2.0", "id": None, "error": error}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((k.encode("latin-1"), v.encode("latin-1")) for k, v in (rejection.headers or {}).items()),
    ]
    try:
        await send({"type": "http.response.start", "status": rejection.status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})
    except ConnectionError:
        if not rejection.close:  # a client gone mid-body hears nothing; anything else is news
            raise
