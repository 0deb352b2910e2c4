"""How node kinds name the service they call (``NodeKind.connection``), the key of its circuit
breaker: never with a password, a path that varies per call, or a query."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING
from urllib.parse import SplitResult, urlsplit

from weir.lang.expressions import Expr, to_text

if TYPE_CHECKING:
    from weir.nodes.context import NodeContext


def peek(expr: Expr, ctx: NodeContext) -> str:
    """A field's text, evaluated without recording it as the node's input."""
    return to_text(expr.evaluate(ctx.scope))


@functools.lru_cache(maxsize=512)  # asked per call with the same few URLs: parsing cost 2 µs
def origin(url: str) -> str | None:
    """``scheme://host:port`` of a URL (no user, path or query); None when it has no host."""
    read = _read(url)
    if read is None:
        return None
    _, scheme, host, port = read
    if port is None:
        port = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" + (f":{port}" if port is not None else "")


@functools.lru_cache(maxsize=512)
def service_url(url: str) -> str | None:
    """A service's URL as its circuit's key: scheme, user, host, port and path, never the
    password or the query (which may carry one); None when it names no host (SQLite)."""
    read = _read(url)
    if read is None:
        return None
    parts, scheme, host, port = read
    user = f"{parts.username}@" if parts.username else ""
    return f"{scheme}://{user}{host}" + (f":{port}" if port else "") + parts.path


def _read(url: str) -> tuple[SplitResult, str, str, int | None] | None:
    """The URL's parts, lower-case scheme, host (an IPv6 one in brackets) and port; None when
    it is not a URL with a host."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname
    if not parts.scheme or not host:
        return None
    return parts, parts.scheme.lower(), f"[{host}]" if ":" in host else host, port
