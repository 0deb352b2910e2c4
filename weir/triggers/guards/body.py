"""The body of an HTTP trigger's request: within its size limit and within the body timeout.

The reader takes the body as an async iterator of chunks, so the REST handler (an aiohttp
request) and the MCP endpoint (an ASGI ``receive``) read through the same bounds; or as bytes,
when the whole body already arrived with the headers (nothing left to wait for, so no timer).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from aiohttp.http_exceptions import HttpProcessingError

from weir.triggers.rejection import Rejection

log = logging.getLogger("weir.trigger")

BODY_TIMEOUT_VARIABLE = "WEIR_REST_BODY_TIMEOUT"
"""Named for the REST trigger, which had it first; the MCP trigger reads its bodies by it too."""
DEFAULT_BODY_TIMEOUT = 30.0


def body_timeout_from_environment() -> float:
    text = os.environ.get(BODY_TIMEOUT_VARIABLE)
    if text is None:
        return DEFAULT_BODY_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        log.warning(
            "%s=%r is not a positive number of seconds; using %g",
            BODY_TIMEOUT_VARIABLE,
            text,
            DEFAULT_BODY_TIMEOUT,
        )
        return DEFAULT_BODY_TIMEOUT
    return value


def check_declared_size(content_length: int | None, limit: int) -> None:
    """Refuse a body whose declared length is over the limit before reading any of it."""
    if content_length is not None and content_length > limit:
        raise Rejection(413, f"the body is {content_length} bytes; the limit is {limit}")


async def read_body(chunks: AsyncIterator[bytes] | bytes, limit: int, timeout: float) -> bytes:
    """The whole body, or a Rejection: 413 past ``limit`` bytes, 408 when it takes longer than
    ``timeout`` seconds, 400 when it is cut short or its framing is broken. Each of these
    leaves the rest of the body unread, so the answer closes the connection."""
    if isinstance(chunks, bytes):
        if len(chunks) > limit:
            raise _too_large(limit)
        return chunks
    try:
        async with asyncio.timeout(timeout):
            return await _gather(chunks, limit)
    except TimeoutError:
        raise Rejection(408, f"the body did not arrive within {timeout:g} s", close=True) from None
    except ConnectionError:  # the client went away mid-body: nobody hears the answer
        raise Rejection(
            400, "the connection closed before the body was complete", close=True
        ) from None
    except HttpProcessingError as exc:  # broken framing: chunk sizes, length
        reason = " ".join(str(exc.message).split())[:200]
        raise Rejection(400, f"the body is malformed: {reason}", close=True) from None


async def _gather(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    parts, size = [], 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        parts.append(chunk)
    return b"".join(parts)


def _too_large(limit: int) -> Rejection:
    return Rejection(413, f"the body is larger than the limit of {limit} bytes", close=True)


Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


async def asgi_chunks(receive: Receive) -> AsyncIterator[bytes]:
    """An ASGI request's body, chunk by chunk; reading stops at the last one."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionError("the client disconnected")
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return
