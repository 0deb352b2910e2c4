"""What the REST trigger answers, without a server: every answer to an execution names it in
``X-Weir-Execution-Id``; a refusal before any execution does not."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from weir.engine.events import ExecutionResult
from weir.flow.triggers import RestTrigger
from weir.store.records import Status
from weir.triggers.rejection import Rejection
from weir.triggers.rest.answer import EXECUTION_HEADER, answer, refusal
from weir.triggers.rest.soap import SOAP11, SoapVersion


def _result(status: Status, result: Any = None, error: Any = None) -> ExecutionResult:
    return ExecutionResult("01exec", "f", status, result, error, 0.0, 1.0, [])


def _json(response: web.Response) -> Any:
    assert isinstance(response.body, bytes)
    return json.loads(response.body)


def test_a_result_a_failure_and_a_soap_fault_all_name_the_execution() -> None:
    trigger = RestTrigger.model_validate({"path": "/x"})
    ok = answer(_result(Status.SUCCEEDED, {"total": 7.5}), trigger, None, None)
    assert ok.status == 200 and _json(ok) == {"total": 7.5}
    failure = {"node": "shape", "message": "boom", "type": "expression"}
    failed = answer(_result(Status.FAILED, error=failure), trigger, None, None)
    assert failed.status == 500 and _json(failed)["error"]["executionId"] == "01exec"
    fault = answer(_result(Status.FAILED, error=failure), trigger, None, SoapVersion(SOAP11))
    assert fault.status == 500 and "node shape: boom" in (fault.text or "")
    for response in (ok, failed, fault):
        assert response.headers[EXECUTION_HEADER] == "01exec"


def test_a_shaped_answer_keeps_the_execution_header_beside_its_own() -> None:
    trigger = RestTrigger.model_validate(
        {
            "path": "/x",
            "response": {
                "status": 201,
                "headers": {"Location": "/orders/${result.id}", "Content-Type": "text/csv"},
                "body": "${result.id}",
            },
        }
    )
    shaped = answer(_result(Status.SUCCEEDED, {"id": "7"}), trigger, None, None)
    assert shaped.status == 201 and shaped.text == "7" and shaped.content_type == "text/csv"
    assert shaped.headers["Location"] == "/orders/7"
    assert shaped.headers[EXECUTION_HEADER] == "01exec"


def test_a_refusal_before_any_execution_names_none() -> None:
    refused = refusal(Rejection(413, "too large"), None, soap_mode=False)
    assert refused.status == 413 and EXECUTION_HEADER not in refused.headers
