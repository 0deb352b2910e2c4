"""The console's aiohttp application: the routes of the table (routes.py), every error as an
``application/problem+json`` document, and each request timed for ``/metrics``."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from weir.console.access import Access
from weir.console.context import ACCESS, CONSOLE, Console
from weir.console.openapi import render
from weir.console.problems import CONTENT_TYPE, Problem, problem_response
from weir.console.routes import ROUTES
from weir.console.ui import mount_ui, ui_directory

log = logging.getLogger("weir.console")

MAX_BODY = 64 * 1024 * 1024
"""The largest request body (an ingest batch); larger is a 413 problem. Runners ship in
batches well under it."""


def _detail(exc: web.HTTPException, request: web.Request) -> str:
    """aiohttp's own message when it says more than the status line does."""
    if exc.status == 404:
        return f"no endpoint at {request.path}"
    if exc.status == 405:
        return f"{request.method} is not allowed at {request.path}"
    text = (exc.text or "").strip()
    if not text or text == f"{exc.status}: {exc.reason}":
        return exc.reason
    return text


@web.middleware
async def problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Problem as exc:
        return problem_response(exc.status, exc.detail, title=exc.title)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == CONTENT_TYPE:
            raise  # a redirect, or a problem already (access.py raises those)
        headers = {
            name: value
            for name, value in exc.headers.items()
            if name.lower() not in ("content-type", "content-length")
        }
        return problem_response(exc.status, _detail(exc, request), headers=headers)
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return problem_response(500, "the console failed to answer; its log says why")


def _timed(console: Console) -> Middleware:
    @web.middleware
    async def timed(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            resource = request.match_info.route.resource
            route = resource.canonical if resource is not None else "unmatched"
            console.metrics.request_seconds.labels(route, request.method, str(status)).observe(
                time.perf_counter() - started
            )

    return timed


def build_app(console: Console, access: Access, ui: Path | None = None) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY, middlewares=[_timed(console), problems])
    app[CONSOLE] = console
    app[ACCESS] = access
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler)
    mount_ui(app, ui or ui_directory())
    console.openapi = render(ROUTES)
    return app
