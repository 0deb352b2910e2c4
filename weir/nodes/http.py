"""`http`: one HTTP request through a pooled httpx client; non-2xx answers are errors.

One ``httpx.AsyncClient`` per TLS setting is shared by every execution of the runner, so
connections are kept alive and reused. 5xx, 429 and 408 answers are retryable, other 4xx are
not; refused or reset connections are retryable ``connection`` errors, and a request that
takes longer than ``timeout`` (connecting, sending, waiting and reading the whole answer,
redirects included) is a retryable ``timeout``. A 429 or 503 with a ``Retry-After`` header
carries the wait it asks for as the error's ``retry_after``. Every connection is checked against the
runner's egress policy first (``http_egress``): a refused one is an ``egress`` error.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import email.utils
import json
import os
import time
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, urlencode

from pydantic import Field, model_validator

from weir.lang.durations import Duration
from weir.lang.errors import ConfigError, ConnectionFailed, NodeError, NodeTimeout
from weir.lang.expressions import Text, Value, json_default
from weir.lang.types import ByteSize, SecretOrText, SecretRef, Strict
from weir.nodes.connections import origin, peek
from weir.nodes.context import NodeContext
from weir.nodes.http_egress import EgressDenied, EgressPolicy
from weir.nodes.kind import NodeKind
from weir.nodes.spool import is_file_ref, open_content

if TYPE_CHECKING:
    import httpx  # imported where a request is made (weir.nodes.http_transport)

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
RETRYABLE_STATUS = {408, 429}
RETRY_AFTER_STATUS = {429, 503}
"""Answers whose ``Retry-After`` says when to try again (the retry policy waits that long)."""
PREVIEW = 500


class BasicAuth(Strict):
    username: SecretOrText
    password: SecretRef


class HttpAuth(Strict):
    """Exactly one of ``basic`` or ``bearer``; values come from secrets."""

    basic: BasicAuth | None = None
    bearer: SecretRef | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> HttpAuth:
        if (self.basic is None) == (self.bearer is None):
            raise ValueError("auth takes exactly one of basic, bearer")
        return self


class HttpConfig(Strict):
    url: Text = Field(description='The URL, a template: "https://crm.example/api/${input.id}".')
    method: Method = "GET"
    headers: Value | None = Field(None, description="Request headers (an object).")
    query: Value | None = Field(None, description="Query parameters (an object; lists repeat).")
    json_: Value | None = Field(None, alias="json", description="A JSON body.")
    form: Value | None = Field(None, description="A form body (application/x-www-form-urlencoded).")
    body: Value | None = Field(
        None, description="A raw body: text, bytes or a file reference (streamed)."
    )
    contentType: str | None = Field(None, description="Content type of a raw body.")
    auth: HttpAuth | None = None
    responseType: Literal["auto", "json", "text", "bytes"] = Field(
        "auto", description="How the answer's body is read; auto goes by its content type."
    )
    timeout: Duration = Field(30.0, description="For the whole request.")
    followRedirects: bool = True
    verifyTls: bool = Field(True, description="Check the server's certificate (keep it on).")
    expectStatus: list[int] | None = Field(
        None, description="Statuses that count as success; 2xx if unset."
    )
    maxResponseSize: ByteSize = Field(
        64 * 1024 * 1024, description="Larger answers fail instead of filling memory."
    )

    @model_validator(mode="after")
    def _one_body(self) -> HttpConfig:
        bodies = [k for k in ("json", "form", "body") if getattr(self, _field(k)) is not None]
        if len(bodies) > 1:
            raise ValueError(f"a request has one body; found {', '.join(bodies)}")
        return self


def _field(name: str) -> str:
    return "json_" if name == "json" else name


def _client(ctx: NodeContext, verify: bool) -> httpx.AsyncClient:
    # Read when a client is made: a changed policy gets a client (and a pool) of its own.
    from weir.nodes.http_transport import new_client

    policy = EgressPolicy.from_environ(os.environ)
    return ctx.resources.get(
        ("http", verify, policy),
        lambda: new_client(verify, policy),
        lambda client: client.aclose(),
    )


def _with_query(url: str, pairs: list[tuple[str, str]]) -> httpx.URL:
    """The URL with ``pairs`` appended to the query string written in it (kept as written)."""
    import httpx

    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ConfigError(f"http url {url!r} is not a valid URL: {exc}") from None
    if not pairs:
        return parsed
    extra = urlencode(pairs, quote_via=quote)
    query = parsed.query.decode("ascii")
    return parsed.copy_with(query=f"{query}&{extra}".encode("ascii") if query else extra.encode())


def _mapping(value: Any, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"http {field} must be an object, got {type(value).__name__}")
    return value


def _query(value: dict[str, Any]) -> list[tuple[str, str]]:
    pairs = []
    for key, item in value.items():
        for one in item if isinstance(item, list) else [item]:
            pairs.append((key, _text(one)))
    return pairs


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, default=json_default)


async def _stream(value: Any) -> Any:
    with open_content(value) as stream:
        while chunk := stream.read(1024 * 1024):
            yield chunk


async def run(config: HttpConfig, ctx: NodeContext) -> dict[str, Any]:
    url = ctx.text(config.url)
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"http url must start with http:// or https://, got {url!r}")
    headers = {k: _text(v) for k, v in _mapping(ctx.eval(config.headers), "headers").items()}
    pairs = _query(_mapping(ctx.eval(config.query), "query"))
    target = _with_query(url, pairs)
    request: dict[str, Any] = {"headers": headers, **_body(config, ctx, headers)}
    if config.auth is not None:
        request.update(_auth(config.auth, ctx, headers))
    ctx.input = {"method": config.method, "url": url, "query": pairs}
    response, content = await _send(config, ctx, url, target, request)
    answer_headers = dict(response.headers)
    parsed = _parse(content, response.headers.get("content-type", ""), config.responseType, url)
    if not _accepted(response.status_code, config.expectStatus):
        raise _answer_error(config, ctx, url, response, content, parsed)
    return {"status": response.status_code, "headers": answer_headers, "body": parsed}


def _body(config: HttpConfig, ctx: NodeContext, headers: dict[str, str]) -> dict[str, Any]:
    """The request's body arguments; sets the content type in ``headers`` unless given."""
    if config.json_ is not None:
        headers.setdefault("Content-Type", "application/json")
        return {"content": json.dumps(ctx.eval(config.json_), default=json_default).encode()}
    if config.form is not None:
        form = _mapping(ctx.eval(config.form), "form")
        return {
            "data": {
                k: [_text(i) for i in v] if isinstance(v, list) else _text(v)
                for k, v in form.items()
            }
        }
    if config.body is None:
        return {}
    body = ctx.eval(config.body)
    if is_file_ref(body):
        headers.setdefault(
            "Content-Type",
            config.contentType or body.get("contentType") or "application/octet-stream",
        )
        return {"content": _stream(body)}
    if config.contentType:
        headers.setdefault("Content-Type", config.contentType)
    return {"content": body if isinstance(body, bytes) else _text(body).encode()}


def _auth(auth: HttpAuth, ctx: NodeContext, headers: dict[str, str]) -> dict[str, Any]:
    """Bearer auth goes into ``headers``; basic auth is an argument httpx encodes."""
    if auth.bearer is not None:
        headers["Authorization"] = f"Bearer {ctx.reveal(auth.bearer)}"
        return {}
    assert auth.basic is not None
    user = ctx.reveal(auth.basic.username)
    password = ctx.reveal(auth.basic.password)
    # The header httpx builds is a secret of its own: base64 of user:password.
    ctx.secrets.derived(base64.b64encode(f"{user}:{password}".encode()).decode())
    return {"auth": (user, password)}


async def _send(
    config: HttpConfig, ctx: NodeContext, url: str, target: httpx.URL, request: dict[str, Any]
) -> tuple[httpx.Response, bytes]:
    import httpx

    client = _client(ctx, config.verifyTls)
    try:
        # httpx's timeout bounds each connect, read and write; the whole request is bounded here.
        async with (
            asyncio.timeout(config.timeout),
            client.stream(
                config.method,
                target,
                timeout=config.timeout,
                follow_redirects=config.followRedirects,
                **request,
            ) as response,
        ):
            return response, await _read(response, config.maxResponseSize)
    except (httpx.TimeoutException, TimeoutError):
        raise NodeTimeout(f"{config.method} {url} timed out after {config.timeout:g}s") from None
    except EgressDenied as exc:
        raise EgressDenied(f"{config.method} {url}: {exc.message}") from None
    except (
        httpx.ConnectError,
        httpx.RemoteProtocolError,
        httpx.ReadError,
        httpx.WriteError,
    ) as exc:
        raise ConnectionFailed(f"{config.method} {url}: {_reason(exc)}") from None
    except httpx.HTTPError as exc:
        raise NodeError(f"{config.method} {url}: {_reason(exc)}", type="http") from None


def _answer_error(
    config: HttpConfig,
    ctx: NodeContext,
    url: str,
    response: httpx.Response,
    content: bytes,
    parsed: Any,
) -> NodeError:
    status = response.status_code
    # Redact before cutting: a secret cut in two would keep its first half.
    preview = ctx.secrets.redact(content.decode("utf-8", "replace"))[:PREVIEW]
    return NodeError(
        f"{config.method} {url} answered {status} {response.reason_phrase}: {preview}",
        type="http",
        retryable=status >= 500 or status in RETRYABLE_STATUS,
        details={"status": status, "body": parsed if len(content) <= PREVIEW else preview},
        retry_after=(
            retry_after(response.headers.get("retry-after"), time.time())
            if status in RETRY_AFTER_STATUS
            else None
        ),
    )


def retry_after(value: str | None, now: float) -> float | None:
    """The seconds a ``Retry-After`` header asks to wait (RFC 9110 10.2.3): delta-seconds or an
    HTTP date, a date already past being 0. None when there is none or it cannot be read: the
    policy's own delay applies then."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000": UTC, as HTTP dates are
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, round(when.timestamp() - now, 3))


async def _read(response: httpx.Response, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise NodeError(
                f"the answer is larger than maxResponseSize ({limit} bytes)", type="http"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _reason(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def _accepted(status: int, expected: list[int] | None) -> bool:
    return status in expected if expected else 200 <= status < 300


def _parse(content: bytes, content_type: str, wanted: str, url: str) -> Any:
    kind = content_type.split(";")[0].strip().lower()
    if wanted == "bytes":
        return content
    if wanted == "json" or (
        wanted == "auto" and (kind == "application/json" or kind.endswith("+json"))
    ):
        if not content:
            return None
        try:
            return json.loads(content)
        except ValueError as exc:
            raise NodeError(f"the answer of {url} is not valid JSON: {exc}", type="http") from None
    if (
        wanted == "text"
        or kind.startswith("text/")
        or "xml" in kind
        or kind == ""
        or "charset" in content_type
    ):
        return content.decode("utf-8", "replace")
    return content


def connection(config: HttpConfig, ctx: NodeContext) -> str | None:
    """The origin the request goes to: its circuit breaker's key."""
    return origin(peek(config.url, ctx))


KIND = NodeKind(
    "http", HttpConfig, run, "One HTTP request; non-2xx answers are errors.", connection
)
