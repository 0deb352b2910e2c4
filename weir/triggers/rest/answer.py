"""How the REST trigger answers: a refusal as a JSON error (a SOAP fault in SOAP mode), a failed
execution as a 500 naming the node, and a result as JSON, text or a SOAP envelope, shaped by
``response`` when the trigger has one."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from weir.engine.executor import ExecutionResult
from weir.flow.triggers import RestTrigger
from weir.lang.expressions import ExpressionError, json_default
from weir.triggers.rejection import Rejection
from weir.triggers.rest.soap import SOAP11, SoapVersion, envelope, fault

EXECUTION_HEADER = "X-Weir-Execution-Id"
_JSON = json.JSONEncoder(default=json_default)
"""What ``json.dumps(body, default=json_default)`` makes, without a new encoder per answer."""


def refusal(rejection: Rejection, soap: SoapVersion | None, soap_mode: bool) -> web.Response:
    headers = dict(rejection.headers or {})
    if soap is not None or soap_mode:
        return _soap(
            soap or SoapVersion(SOAP11),
            rejection.status,
            fault(soap, rejection.message, client=True),
            headers,
        )
    body: dict[str, Any] = {"status": rejection.status, "message": rejection.message}
    if rejection.details:
        body["details"] = rejection.details
    return web.json_response({"error": body}, status=rejection.status, headers=headers)


def answer(
    result: ExecutionResult, trigger: RestTrigger, payload: Any, soap: SoapVersion | None
) -> web.Response:
    headers = {EXECUTION_HEADER: result.id}
    if result.status == "waiting":  # parked durably: a runner resumes it (durable-executions)
        return web.json_response(
            {"executionId": result.id, "status": "waiting"}, status=202, headers=headers
        )
    if not result.ok:
        return _failed(result, soap, headers)
    status, body = 200, result.result
    if trigger.response is not None:
        scope = {"result": result.result, "input": payload, "execution": {"id": result.id}}
        try:
            status, body = _shaped(trigger, scope, status, body, headers)
        except (ExpressionError, ValueError, TypeError, AttributeError) as exc:
            return _error(500, f"trigger.rest.response: {exc}", headers, executionId=result.id)
    if soap is not None:
        return _soap(soap, status, envelope(soap, body), headers)
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
        body=_JSON.encode(body).encode(),
        content_type=(declared or "application/json").split(";")[0],
        headers=headers,
    )


def _shaped(
    trigger: RestTrigger, scope: dict[str, Any], status: int, body: Any, headers: dict[str, str]
) -> tuple[int, Any]:
    """``response``'s status and body, its headers added to ``headers``."""
    response = trigger.response
    assert response is not None
    if response.status is not None:
        status = int(response.status.evaluate(scope))
    if response.headers is not None:
        headers.update({str(k): str(v) for k, v in response.headers.evaluate(scope).items()})
    if response.body is not None:
        body = response.body.evaluate(scope)
    return status, body


def _failed(
    result: ExecutionResult, soap: SoapVersion | None, headers: dict[str, str]
) -> web.Response:
    error = result.error or {}
    where = f"node {error['node']}: " if error.get("node") else ""
    message = f"{where}{error.get('message', 'the execution failed')}"
    if soap is not None:
        return _soap(soap, 500, fault(soap, message, client=False), headers)
    return _error(500, message, headers, type=error.get("type"), executionId=result.id)


def _error(status: int, message: str, headers: dict[str, str], **more: Any) -> web.Response:
    return web.json_response(
        {"error": {"status": status, "message": message, **more}}, status=status, headers=headers
    )


def _soap(version: SoapVersion, status: int, text: str, headers: dict[str, str]) -> web.Response:
    return web.Response(
        status=status,
        text=text,
        content_type=version.content_type.split(";")[0],
        headers=headers,
    )
