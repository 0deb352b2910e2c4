"""The REST trigger: one HTTP endpoint that runs the flow per request.

Checks, in order, each answered with a JSON error (a SOAP fault in SOAP mode), counted as
``rejected`` and logged as one warning line (429 and 503 only at debug): method (405),
draining (503), declared body size (413), credentials that cannot be read (503, saying nothing
more; ``/readyz`` and the log say which), bearer or basic credentials (401), the body: its
size (413), its arrival within the body timeout (408) and its end (400 when cut short), an HMAC
signature (401), content type (415), body syntax (400: malformed, nested deeper than
``MAX_DEPTH``, NaN or Infinity), JSON Schema (400 listing every failure), and last the
concurrency limit (429). Only a request that passed every check counts against the limit, so
slow or bad bodies cannot use it up.

The body timeout is ``WEIR_REST_BODY_TIMEOUT`` seconds (30 by default) for the whole body.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from weir.engine.executor import ExecutionResult, TriggerEvent
from weir.engine.service import FlowService
from weir.flow.triggers import RestTrigger
from weir.lang.expressions import ExpressionError, json_default
from weir.lang.ids import new_execution_id
from weir.nodes.conversions import from_xml
from weir.triggers.auth import check_auth, credentials_problem, needs_body, unavailable
from weir.triggers.rejection import PayloadError, Rejection, TooDeep, check_xml_depth, loads_json
from weir.triggers.soap import SoapError, SoapVersion, envelope, fault, unwrap

log = logging.getLogger("weir.trigger.rest")

EXECUTION_HEADER = "X-Weir-Execution-Id"
HIDDEN_HEADERS = {"authorization", "cookie", "proxy-authorization"}
BODY_TIMEOUT_VARIABLE = "WEIR_REST_BODY_TIMEOUT"
DEFAULT_BODY_TIMEOUT = 30.0
QUIET_STATUSES = {429, 503}
"""Refusals for capacity, not for a bad request: logged at debug, not as warnings."""


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


class RestEndpoint:
    def __init__(self, service: FlowService, body_timeout: float | None = None) -> None:
        self.service = service
        self.running = 0
        self.body_timeout = body_timeout or body_timeout_from_environment()
        self._problem: str | None = None  # the log message last given for unreadable secrets

    def credentials_problem(self) -> str | None:
        """Why the credentials cannot be checked now (for /readyz), or None; the full reason
        is logged once when it appears, and its end is logged too."""
        trigger = self.service.flow.flow.spec.trigger.rest
        problem = credentials_problem(trigger.auth if trigger else None, self.service.secrets())
        detail = problem[1] if problem else None
        if detail != self._problem:
            if problem is not None:
                log.error("not ready: %s: %s", problem[0].split(":")[0], detail)
            else:
                log.info("the REST trigger's credentials can be checked again; ready")
            self._problem = detail
        return problem[0] if problem else None

    @property
    def trigger(self) -> RestTrigger:
        trigger = self.service.flow.flow.spec.trigger.rest
        assert trigger is not None
        return trigger

    def matches(self, request: web.Request) -> bool:
        return request.path == self.trigger.path

    async def handle(self, request: web.Request) -> web.StreamResponse:
        flow = self.service.flow  # this request runs on the revision current now
        trigger = flow.flow.spec.trigger.rest
        assert trigger is not None
        soap: SoapVersion | None = None
        metrics, name = self.service.metrics, flow.name
        metrics.trigger(name, "rest", "received")
        try:
            if request.method not in trigger.methods:
                raise Rejection(
                    405,
                    f"method {request.method} is not allowed on {trigger.path}",
                    headers={"Allow": ", ".join(trigger.methods)},
                )
            if self.service.stopping:
                raise Rejection(503, "the runner is shutting down", headers={"Retry-After": "5"})
            limit = trigger.maxBodySize
            if request.content_length is not None and request.content_length > limit:
                raise Rejection(
                    413, f"the body is {request.content_length} bytes; the limit is {limit}"
                )
            secrets = self.service.secrets()
            if trigger.auth is not None:
                if self.credentials_problem() is not None:
                    raise unavailable()
                if not needs_body(trigger.auth):
                    check_auth(trigger.auth, request, b"", secrets)
            raw = await self._read_body(request, limit)
            if trigger.auth is not None and needs_body(trigger.auth):
                check_auth(trigger.auth, request, raw, secrets)
            payload, soap = _parse(request, raw, trigger)
            _check_schema(payload, trigger)
            concurrency = trigger.concurrency
            if concurrency is not None and self.running >= concurrency:
                raise Rejection(
                    429,
                    f"{concurrency} requests are already running; retry later",
                    headers={"Retry-After": "1"},
                )
            event = TriggerEvent(kind="rest", payload=payload, meta=_meta(request))
            if trigger.mode == "async":
                execution_id = new_execution_id()
                self.service.start_background(event, execution_id)
                metrics.trigger(name, "rest", "accepted")
                return web.json_response(
                    {"executionId": execution_id, "status": "accepted"},
                    status=202,
                    headers={EXECUTION_HEADER: execution_id},
                )
            self.running += 1
            try:
                result = await self.service.execute(event, flow)
            finally:
                self.running -= 1
        except Rejection as rejection:
            metrics.trigger(name, "rest", "rejected")
            level = logging.DEBUG if rejection.status in QUIET_STATUSES else logging.WARNING
            log.log(
                level,
                "rejected %s %s: %d %s",
                request.method,
                request.path,
                rejection.status,
                rejection.message[:300],
            )
            response = _error(rejection, soap, trigger.soap)
            if rejection.close or not request.content.is_eof():
                response.force_close()  # the rest of the body is not worth reading
            return response
        return _answer(result, trigger, payload, soap)

    async def _read_body(self, request: web.Request, limit: int) -> bytes:
        try:
            async with asyncio.timeout(self.body_timeout):
                return await _read_body(request, limit)
        except TimeoutError:
            raise Rejection(
                408, f"the body did not arrive within {self.body_timeout:g} s", close=True
            ) from None
        except ConnectionError:  # the client went away mid-body: nobody hears the answer
            raise Rejection(
                400, "the connection closed before the body was complete", close=True
            ) from None
        except HttpProcessingError as exc:  # broken framing: chunk sizes, length
            reason = " ".join(str(exc.message).split())[:200]
            raise Rejection(400, f"the body is malformed: {reason}", close=True) from None


async def _read_body(request: web.Request, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise Rejection(413, f"the body is larger than the limit of {limit} bytes", close=True)
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(
    request: web.Request, raw: bytes, trigger: RestTrigger
) -> tuple[Any, SoapVersion | None]:
    kind = request.content_type.lower() if raw else ""
    if not raw:
        return (dict(request.query) or None), None
    try:
        text = raw.decode(request.charset or "utf-8")
    except (UnicodeDecodeError, LookupError):
        raise Rejection(400, f"the body is not valid {request.charset or 'utf-8'} text") from None
    if trigger.soap:
        if "xml" not in kind:
            raise Rejection(415, f"SOAP needs an XML body, not {kind or 'no content type'}")
        _xml(text)  # refuses DTDs, entities and deep nesting before the envelope is looked at
        try:
            version, payload = unwrap(text)
        except SoapError as exc:
            raise Rejection(400, str(exc)) from None
        return payload, version
    if kind == "application/json" or kind.endswith("+json"):
        try:
            return loads_json(text), None
        except TooDeep as exc:
            raise Rejection(400, f"the body is {exc}") from None
        except PayloadError as exc:
            raise Rejection(400, f"the body is not valid JSON: {exc}") from None
    if kind == "application/x-www-form-urlencoded":
        form: dict[str, Any] = {}
        for key, value in parse_qsl(text, keep_blank_values=True):
            form[key] = (
                [*form[key], value]
                if isinstance(form.get(key), list)
                else ([form[key], value] if key in form else value)
            )
        return form, None
    if kind in ("application/xml", "text/xml") or kind.endswith("+xml"):
        return _xml(text), None
    if kind.startswith("text/"):
        return text, None
    raise Rejection(
        415,
        f"unsupported content type {kind!r}: send application/json, "
        "application/x-www-form-urlencoded, application/xml or text/*",
    )


def _xml(text: str) -> Any:
    from weir.lang.errors import NodeError

    try:
        check_xml_depth(text)
    except PayloadError as exc:
        raise Rejection(400, str(exc)) from None
    try:
        return from_xml(text)
    except NodeError as exc:  # malformed, or refused for a DTD/entities
        raise Rejection(400, exc.message.replace("transform xml2json: ", "")) from None


def _check_schema(payload: Any, trigger: RestTrigger) -> None:
    if trigger.schema_ is None:
        return
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(trigger.schema_)
    failures = [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
        for error in sorted(validator.iter_errors(payload), key=lambda e: list(e.absolute_path))
    ]
    if failures:
        raise Rejection(400, "the payload does not match the schema", details=failures)


def _meta(request: web.Request) -> dict[str, Any]:
    return {
        "receivedAt": dt.datetime.now(dt.UTC).isoformat(),
        "method": request.method,
        "path": request.path,
        "query": dict(request.query),
        "headers": {k: v for k, v in request.headers.items() if k.lower() not in HIDDEN_HEADERS},
        "remote": request.remote,
    }


def _error(rejection: Rejection, soap: SoapVersion | None, soap_mode: bool) -> web.Response:
    headers = dict(rejection.headers or {})
    if soap is not None or soap_mode:
        version = soap or SoapVersion("http://schemas.xmlsoap.org/soap/envelope/")
        return web.Response(
            status=rejection.status,
            text=fault(version, rejection.message, client=True),
            content_type=version.content_type.split(";")[0],
            headers=headers,
        )
    body: dict[str, Any] = {"status": rejection.status, "message": rejection.message}
    if rejection.details:
        body["details"] = rejection.details
    return web.json_response({"error": body}, status=rejection.status, headers=headers)


def _answer(
    result: ExecutionResult, trigger: RestTrigger, payload: Any, soap: SoapVersion | None
) -> web.Response:
    headers = {EXECUTION_HEADER: result.id}
    if not result.ok:
        error = result.error or {}
        where = f"node {error['node']}: " if error.get("node") else ""
        message = f"{where}{error.get('message', 'the execution failed')}"
        if soap is not None:
            return web.Response(
                status=500,
                text=fault(soap, message, client=False),
                content_type=soap.content_type.split(";")[0],
                headers=headers,
            )
        return web.json_response(
            {
                "error": {
                    "status": 500,
                    "message": message,
                    "type": error.get("type"),
                    "executionId": result.id,
                }
            },
            status=500,
            headers=headers,
        )
    status, body = 200, result.result
    if trigger.response is not None:
        scope = {"result": result.result, "input": payload, "execution": {"id": result.id}}
        try:
            response = trigger.response
            if response.status is not None:
                status = int(response.status.evaluate(scope))
            if response.headers is not None:
                headers.update(
                    {str(k): str(v) for k, v in response.headers.evaluate(scope).items()}
                )
            if response.body is not None:
                body = response.body.evaluate(scope)
        except (ExpressionError, ValueError, TypeError, AttributeError) as exc:
            return web.json_response(
                {
                    "error": {
                        "status": 500,
                        "message": f"trigger.rest.response: {exc}",
                        "executionId": result.id,
                    }
                },
                status=500,
                headers=headers,
            )
    if soap is not None:
        return web.Response(
            status=status,
            text=envelope(soap, body),
            content_type=soap.content_type.split(";")[0],
            headers=headers,
        )
    declared = next((headers.pop(k) for k in list(headers) if k.lower() == "content-type"), None)
    if isinstance(body, str):
        return web.Response(
            status=status,
            text=body,
            headers=headers,
            content_type=(declared or "text/plain").split(";")[0],
        )
    return web.Response(
        status=status,
        body=json.dumps(body, default=json_default).encode(),
        content_type=(declared or "application/json").split(";")[0],
        headers=headers,
    )
