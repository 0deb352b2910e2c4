"""What every handler reaches through its request: the console's parts (store, flows, runs,
events, metrics) and the `Access` that decides who may do what (access.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from weir.console.access import READ, Access

if TYPE_CHECKING:
    from weir.console.events import EventHub
    from weir.console.flows import FlowSource
    from weir.console.metrics import ConsoleMetrics
    from weir.console.runs import Runs

ACCESS = web.AppKey("access", Access)


@dataclass
class Console:
    store: Any
    """The started execution store (weir.store.sql.SqlExecutionStore)."""
    flows: FlowSource
    runs: Runs
    hub: EventHub
    metrics: ConsoleMetrics
    ready: bool = False
    stopping: bool = False
    openapi: bytes = b""
    """The OpenAPI document, rendered once when the app is built."""


CONSOLE = web.AppKey("console", Console)


def console_of(request: web.Request) -> Console:
    return request.app[CONSOLE]


def access_of(request: web.Request) -> Access:
    return request.app[ACCESS]


async def readable_namespaces(request: web.Request, namespace: str | None) -> frozenset[str] | None:
    """The namespaces the caller may read (None: all), once the one asked for, if any, is
    checked: a caller naming a namespace they may not read gets a 403, not an empty list."""
    access = access_of(request)
    if namespace is not None:
        await access.require(request, *READ, namespace=namespace)
    return await access.namespaces(request, *READ)
