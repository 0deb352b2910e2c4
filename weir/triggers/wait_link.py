"""The resume URL of a person's wait, ``/waits/<token>``, as `weir serve` and `weir console`
both serve it: the token is the only credential (treat the URL as a secret; it stops working
when the wait times out or is resumed).

* ``GET``: what the person is asked — message, JSON Schema, expiry — as JSON, or as a small
  HTML form for a browser (``Accept: text/html``);
* ``POST`` a JSON payload: resolves the wait with it (200), recorded as resolved by ``url``;
  404 unknown token, 409 already resolved (with the stored result), 410 expired or cancelled,
  422 a payload that fails the schema (every problem listed).
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from weir.engine.human_waits import (
    PayloadRejected,
    WaitGone,
    describe,
    resolve_token,
    wait_of_token,
)
from weir.store.waits import AlreadyResolved, SqlWaits, UnknownWait

MAX_PAYLOAD = 1024 * 1024
RESOLVED_BY_URL = "url"


def refusal(exc: Exception) -> tuple[int, str] | None:
    """The HTTP status and detail for a refused resume; None for any other error."""
    if isinstance(exc, UnknownWait):
        return 404, str(exc)
    if isinstance(exc, AlreadyResolved):
        wait = exc.wait
        who = f" by {wait.resolved_by}" if wait.resolved_by else ""
        return 409, f"wait {wait.id} was already resolved{who}: {json.dumps(wait.result)}"
    if isinstance(exc, WaitGone):
        return 410, str(exc)
    if isinstance(exc, PayloadRejected):
        return 422, str(exc)
    return None


def problem(status: int, detail: str) -> web.Response:
    from http import HTTPStatus

    body = {"title": HTTPStatus(status).phrase, "status": status, "detail": detail}
    return web.Response(
        status=status, body=orjson.dumps(body), content_type="application/problem+json"
    )


async def get_link(waits: SqlWaits, request: web.Request) -> web.Response:
    try:
        wait = await wait_of_token(waits, request.match_info["token"])
    except UnknownWait as exc:
        return problem(404, str(exc))
    described = describe(wait)
    if "text/html" in request.headers.get("Accept", ""):
        return web.Response(text=_form(described), content_type="text/html")
    return web.json_response(described)


async def post_link(
    waits: SqlWaits, request: web.Request, resolved: Callable[[], None] | None = None
) -> web.Response:
    """Resolve the wait with the request's JSON body; ``resolved`` is called after (a waker's
    poke, so that this process resumes it at once)."""
    if request.content_length is not None and request.content_length > MAX_PAYLOAD:
        return problem(413, f"the payload is over {MAX_PAYLOAD} bytes")
    data = await request.content.read(MAX_PAYLOAD + 1)
    if len(data) > MAX_PAYLOAD:
        return problem(413, f"the payload is over {MAX_PAYLOAD} bytes")
    try:
        payload = orjson.loads(data) if data.strip() else {}
    except orjson.JSONDecodeError as exc:
        return problem(400, f"body: not valid JSON (UTF-8): {exc}")
    try:
        wait = await resolve_token(waits, request.match_info["token"], payload, RESOLVED_BY_URL)
    except (UnknownWait, AlreadyResolved, WaitGone, PayloadRejected) as exc:
        status, detail = refusal(exc) or (500, str(exc))
        return problem(status, detail)
    if resolved is not None:
        resolved()
    return web.json_response(
        {"waitId": wait.id, "executionId": wait.execution_id, "status": "resolved"}
    )


def _form(described: dict[str, Any]) -> str:
    """A page with the message, the schema and a JSON box that POSTs to this same URL."""
    message = html.escape(str(described.get("message") or "Resume this execution"))
    schema = html.escape(json.dumps(described.get("schema"), indent=2))
    expires = html.escape(str(described.get("expiresAt") or "never"))
    state = html.escape(str(described.get("state")))
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Weir: {message}</title>
<meta name="referrer" content="no-referrer"></head><body>
<h1>{message}</h1><p>Wait {state}; expires {expires}.</p>
<p>Payload (JSON) matching:</p><pre>{schema}</pre>
<textarea id="payload" rows="8" cols="60">{{}}</textarea><br>
<button id="send">Resume</button><pre id="answer"></pre>
<script>
document.getElementById("send").onclick = async () => {{
  const r = await fetch(location.href, {{method: "POST",
    headers: {{"Content-Type": "application/json"}},
    body: document.getElementById("payload").value}});
  document.getElementById("answer").textContent = r.status + " " + await r.text();
}};
</script></body></html>"""
