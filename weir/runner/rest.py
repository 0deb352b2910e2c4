"""The REST trigger: one HTTP endpoint that runs the flow per request.

Checks, in order, each answered with a JSON error (a SOAP fault in SOAP mode) and counted as
``rejected``: method (405), draining (503), concurrency (429), body size (413), credentials
(401), content type (415), body syntax (400), JSON Schema (400 listing every failure).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from weir.flow.expressions import ExpressionError, json_default
from weir.flow.triggers import RestTrigger
from weir.runner.engine import ExecutionResult, TriggerEvent
from weir.runner.ids import new_execution_id
from weir.runner.nodes.conversions import from_xml
from weir.runner.rejection import Rejection
from weir.runner.rest_auth import check_auth
from weir.runner.service import FlowService
from weir.runner.soap import SoapError, SoapVersion, envelope, fault, unwrap

log = logging.getLogger("weir.trigger.rest")

EXECUTION_HEADER = "X-Weir-Execution-Id"
HIDDEN_HEADERS = {"authorization", "cookie", "proxy-authorization"}


class RestEndpoint:
    def __init__(self, service: FlowService) -> None:
        self.service = service
        self.running = 0

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
            limit = trigger.concurrency
            if limit is not None and self.running >= limit:
                raise Rejection(
                    429,
                    f"{limit} requests are already running; retry later",
                    headers={"Retry-After": "1"},
                )
            self.running += 1
            try:
                raw = await _read_body(request, trigger.maxBodySize)
                check_auth(trigger.auth, request, raw, self.service.secrets())
                payload, soap = _parse(request, raw, trigger)
                _check_schema(payload, trigger)
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
                result = await self.service.execute(event, flow)
            finally:
                self.running -= 1
        except Rejection as rejection:
            metrics.trigger(name, "rest", "rejected")
            return _error(rejection, soap, trigger.soap)
        return _answer(result, trigger, payload, soap)


async def _read_body(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise Rejection(413, f"the body is {request.content_length} bytes; the limit is {limit}")
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise Rejection(413, f"the body is larger than the limit of {limit} bytes")
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
        _xml(text)  # refuses DTDs and entities before the envelope is looked at
        try:
            version, payload = unwrap(text)
        except SoapError as exc:
            raise Rejection(400, str(exc)) from None
        return payload, version
    if kind == "application/json" or kind.endswith("+json"):
        try:
            return json.loads(text), None
        except ValueError as exc:
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
    from weir.runner.errors import NodeError

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
