"""``/healthz`` (the process answers), ``/readyz`` (the store is open and the console is not
stopping) and ``/metrics`` (Prometheus)."""

from __future__ import annotations

from aiohttp import web

from weir.console.context import console_of
from weir.console.metrics import CONTENT_TYPE
from weir.console.models import Health, Readiness
from weir.console.parsing import respond


async def healthz(request: web.Request) -> web.Response:
    return respond(Health())


async def readyz(request: web.Request) -> web.Response:
    console = console_of(request)
    reason = None
    if console.stopping:
        reason = "shutting down"
    elif not console.ready:
        reason = "starting"
    return respond(Readiness(ready=reason is None, reason=reason), 200 if reason is None else 503)


async def metrics(request: web.Request) -> web.Response:
    body = console_of(request).metrics.exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
