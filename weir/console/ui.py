"""The web console (console-ui/, docs/console.md): the built single-page app served at ``/``.

Any GET for HTML outside ``/api/`` that names no built file gets ``index.html``, so that a deep link
(``/executions?status=failed``) opens the app, which routes it. The hashed files under
``assets/`` never change, so browsers keep them a year; ``index.html`` is checked every time so
that a new build shows at once. Without a build, ``/`` says how to make one: the API serves on.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler

UI_ENV = "WEIR_CONSOLE_UI"
DEFAULT_UI = Path(__file__).resolve().parents[2] / "console-ui" / "dist"
"""`make console-ui` builds here, in the checkout the console runs from."""

ASSETS = "assets/"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
API_SEGMENT = "api"


def ui_directory() -> Path:
    """The built app: $WEIR_CONSOLE_UI, else console-ui/dist of this checkout."""
    configured = os.environ.get(UI_ENV, "").strip()
    return Path(configured) if configured else DEFAULT_UI


def _not_built(directory: Path) -> web.Response:
    text = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Weir console: the web app is not built</title>
<meta name="color-scheme" content="light dark"></head>
<body style="font-family: system-ui, sans-serif; max-width: 40em; margin: 2em auto">
<h1>The web console is not built</h1>
<p>There is no <code>index.html</code> in <code>{html.escape(str(directory))}</code>.
Build it from the repository with <code>make console-ui</code> (Node.js 20 and npm), or point
<code>{UI_ENV}</code> at a built directory, then reload this page.</p>
<p>The API serves meanwhile: <a href="/api/v1/openapi.json">/api/v1/openapi.json</a>.</p>
</body></html>
"""
    return web.Response(
        status=503, text=text, content_type="text/html", headers={"Cache-Control": REVALIDATE}
    )


def _file(path: Path, cache: str) -> web.FileResponse:
    return web.FileResponse(
        path, headers={"Cache-Control": cache, "X-Content-Type-Options": "nosniff"}
    )


def _takes_html(request: web.Request) -> bool:
    """A browser does; an API client asking for JSON only is told 404, not handed a page."""
    accept = request.headers.get("Accept", "*/*")
    return "text/html" in accept or "*/*" in accept


def ui_handler(directory: Path) -> Handler:
    async def serve_ui(request: web.Request) -> web.StreamResponse:
        wanted = request.match_info["path"]
        if API_SEGMENT in wanted.split("/"):
            # an API path stays a problem document, even under a mistaken prefix
            # (/proxy/api/v1/…: a client given the wrong base URL hears 404)
            raise web.HTTPNotFound()
        root = directory.resolve()
        target = (root / wanted).resolve()
        if wanted and target.is_relative_to(root) and target.is_file():
            return _file(target, IMMUTABLE if wanted.startswith(ASSETS) else REVALIDATE)
        if wanted.startswith(ASSETS) or not _takes_html(request):
            # an old build's asset (HTML in its place would not run), or a JSON client's typo
            raise web.HTTPNotFound()
        index = root / "index.html"
        if not index.is_file():
            return _not_built(directory)
        return _file(index, REVALIDATE)

    return serve_ui


def mount_ui(app: web.Application, directory: Path) -> None:
    """After the API's routes, so that theirs match first."""
    app.router.add_get("/{path:.*}", ui_handler(directory))
