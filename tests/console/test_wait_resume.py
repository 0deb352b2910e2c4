"""A person's wait through the console (weir.console.waits): resumed through the API by token
and from the Execution page by wait id, and through the bare resume URL; the payload checked
against the schema (422 with every problem), a repeat refused (409 with the stored result), an
unknown token 404, an expired wait 410; a timeout takes onTimeout; resuming needs the same
right as a replay, and records who resumed."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.console.client import Api, api_for
from tests.console.test_waiting import status_of
from weir.console.access import READ, RUN, USER_KEY
from weir.console.problems import Problem
from weir.console.server import ConsoleOptions, ConsoleServer

APPROVAL = """\
apiVersion: weir.dev/v1alpha1
kind: Flow
metadata: {name: approval}
spec:
  trigger: {manual: {}}
  nodes:
    - name: ask
      wait:
        message: "Approve ${input.item}?"
        timeout: $TIMEOUT
        schema:
          type: object
          required: [approved, by]
          properties: {approved: {type: boolean}, by: {type: string}}
        onTimeout: escalate
        timeoutOutput: {approved: false}
      next: decide
    - name: decide
      transform: {set: {approved: "$.nodes.ask.approved", by: "$.nodes.ask.by"}}
    - name: escalate
      transform: {set: {escalated: "$.nodes.ask.timedOut", approved: "$.nodes.ask.approved"}}
"""


class Granting:
    """Access that lets everyone read and lets ``run`` only a caller sending ``X-Allow``;
    names the caller ``ana`` (as a reviewed token would), and records each check."""

    def __init__(self, store_file: Path) -> None:
        self.checks: list[tuple[str, str, str]] = []
        self.store_file = store_file

    async def require(
        self, request: web.Request, verb: str, resource: str, *, namespace: str, name: Any = None
    ) -> None:
        request[USER_KEY] = "ana"
        self.checks.append((verb, resource, namespace))
        if (verb, resource) == RUN and "X-Allow" not in request.headers:
            raise Problem(403, f"ana may not {verb} {resource}")

    async def namespaces(self, request: web.Request, verb: str, resource: str) -> Any:
        return None


class Checked(ConsoleServer):
    access: Granting

    def _mode(self, store: Any, hub: Any) -> Any:
        flows, _open, runs = super()._mode(store, hub)
        return flows, self.access, runs


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[tuple[Api, Granting]]:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "approval.yaml").write_text(APPROVAL.replace("$TIMEOUT", "1h"))
    (flows / "hasty.yaml").write_text(
        APPROVAL.replace("approval", "hasty").replace("$TIMEOUT", "2s")
    )
    options = ConsoleOptions(
        paths=[str(flows)], store=f"sqlite:///{tmp_path}/console.db", port=0, grace=2
    )
    server = Checked(options)
    server.access = Granting(tmp_path / "console.db")
    await server.start()
    try:
        async for api in api_for(server):
            yield api, server.access
    finally:
        await server.stop()


ALLOW = {"X-Allow": "1"}


async def parked(
    api: Api, access: Granting, flow: str = "approval"
) -> tuple[str, dict[str, Any], str]:
    """Run ``flow`` until it waits: its id, the waiting node run's output as the API shows it,
    and the resume token as the runner recorded it (what `weir run` prints, what a reader of
    the store finds): the API shows the token without its secret."""
    execution_id = await api.post(
        f"/api/v1/flows/{flow}/runs", {"input": {"item": "PO-7"}}, expect=202, headers=ALLOW
    )
    execution_id = execution_id["id"]
    await status_of(api, execution_id, "waiting")
    node = await api.get(f"/api/v1/executions/{execution_id}/nodes/1")
    with sqlite3.connect(access.store_file) as db:
        ((recorded,),) = db.execute(
            "SELECT output FROM weir_node_runs WHERE execution_id = ? AND seq = 1",
            (execution_id,),
        ).fetchall()
    token = str(json.loads(recorded)["resumePath"].removeprefix("/waits/"))
    wait_id, secret = token.split(".")[1:]
    shown = node["output"]
    assert shown["resumePath"] == f"/waits/w1.{wait_id}.…" and secret not in str(shown)
    return execution_id, shown, token


async def test_resumed_through_the_api_by_token(console: tuple[Api, Granting]) -> None:
    api, access = console
    execution_id, output, token = await parked(api, access)
    assert output["kind"] == "human" and output["message"] == "Approve PO-7?"
    secret = token.rsplit(".", 1)[1]

    shown = await api.get(f"/api/v1/waits/{token}")
    assert shown["executionId"] == execution_id and shown["state"] == "pending"
    assert shown["message"] == "Approve PO-7?" and shown["expiresAt"].endswith("Z")
    assert shown["schema"]["required"] == ["approved", "by"]
    assert secret not in str(shown)
    assert (*READ, "") in access.checks

    # Resuming needs `create flowruns` in the flow's namespace, as a replay does.
    await api.post(f"/api/v1/waits/{token}/resume", {"input": {"approved": True}}, expect=403)
    assert ("create", "flowruns", "") in access.checks

    wrong = await api.post(
        f"/api/v1/waits/{token}/resume", {"input": {"approved": "yes"}}, expect=422, headers=ALLOW
    )
    assert "payload.approved: 'yes' is not of type 'boolean'" in wrong["detail"]
    assert "'by' is a required property" in wrong["detail"]

    answer = await api.post(
        f"/api/v1/waits/{token}/resume",
        {"input": {"approved": True, "by": "ana"}},
        headers=ALLOW,
    )
    assert answer == {
        "waitId": shown["waitId"],
        "executionId": execution_id,
        "status": "resolved",
        "resolvedBy": "ana",
    }
    view = await status_of(api, execution_id, "succeeded", timeout=5)
    assert [(n["node"], n["status"]) for n in view["nodes"]] == [
        ("ask", "succeeded"),
        ("decide", "succeeded"),
    ]
    node = await api.get(f"/api/v1/executions/{execution_id}/nodes/1")
    assert node["output"] == {"approved": True, "by": "ana"}

    again = await api.post(
        f"/api/v1/waits/{token}/resume",
        {"input": {"approved": False, "by": "bob"}},
        expect=409,
        headers=ALLOW,
    )
    assert "by ana" in again["detail"] and '"approved": true' in again["detail"]
    after = await api.get(f"/api/v1/waits/{token}")
    assert after["state"] == "resumed" and after["resolvedBy"] == "ana"
    assert after["result"] == {"output": {"approved": True, "by": "ana"}}


async def test_a_token_that_does_not_match_is_404(console: tuple[Api, Granting]) -> None:
    api, access = console
    _, _, token = await parked(api, access)
    wait_id = token.split(".")[1]
    forged = f"w1.{wait_id}.{'A' * 43}"
    for token in (forged, "w1.nope.x", "w2.abc.def"):
        await api.get(f"/api/v1/waits/{token}", expect=404)
        await api.post(f"/api/v1/waits/{token}/resume", {"input": {}}, expect=404, headers=ALLOW)
        await api.post(f"/waits/{token}", {}, expect=404)


async def test_resumed_from_the_execution_page_by_wait_id(
    console: tuple[Api, Granting],
) -> None:
    api, access = console
    execution_id, _, _ = await parked(api, access)
    [wait] = (await api.get(f"/api/v1/executions/{execution_id}/waits"))["items"]
    assert wait["state"] == "pending" and wait["message"] == "Approve PO-7?"
    path = f"/api/v1/executions/{execution_id}/waits/{wait['waitId']}/resume"
    await api.post(path, {"input": {"approved": False, "by": "ana"}}, expect=403)
    unknown = f"/api/v1/executions/{execution_id}/waits/0000/resume"
    await api.post(unknown, {"input": {}}, expect=404, headers=ALLOW)
    await api.post(path, {"input": {"approved": False, "by": "ana"}}, headers=ALLOW)
    view = await status_of(api, execution_id, "succeeded", timeout=5)
    assert view["nodes"][-1]["node"] == "decide"


async def test_resumed_through_the_bare_url_by_token_alone(
    console: tuple[Api, Granting],
) -> None:
    api, access = console
    execution_id, _, token = await parked(api, access)
    access.checks.clear()
    form = await api.get(f"/waits/{token}", headers={"Accept": "text/html"})
    assert "Approve PO-7?" in form and "<textarea" in form
    wrong = await api.post(f"/waits/{token}", {"approved": True}, expect=422)
    assert "'by' is a required property" in wrong["detail"]
    answer = await api.post(f"/waits/{token}", {"approved": True, "by": "link"})
    assert answer["status"] == "resolved" and answer["executionId"] == execution_id
    assert access.checks == []  # the token is the credential
    await status_of(api, execution_id, "succeeded", timeout=5)
    shown = await api.get(f"/waits/{token}")
    assert shown["resolvedBy"] == "url"
    await api.post(f"/waits/{token}", {"approved": False, "by": "late"}, expect=409)


async def test_a_wait_that_times_out_takes_on_timeout_and_its_link_is_gone(
    console: tuple[Api, Granting],
) -> None:
    api, access = console
    execution_id, _, token = await parked(api, access, "hasty")
    await asyncio.sleep(2.1)
    gone = await api.post(f"/waits/{token}", {"approved": True, "by": "late"}, expect=410)
    assert "timed out" in gone["detail"]
    view = await status_of(api, execution_id, "succeeded", timeout=5)
    assert [(n["node"], n["status"]) for n in view["nodes"]] == [
        ("ask", "succeeded"),
        ("escalate", "succeeded"),
    ]
    node = await api.get(f"/api/v1/executions/{execution_id}/nodes/2")
    assert node["output"] == {"escalated": True, "approved": False}
    await api.post(f"/api/v1/waits/{token}/resume", {"input": {}}, expect=410, headers=ALLOW)
