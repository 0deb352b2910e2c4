"""A person's wait under a real `weir serve`: the resume URL is built from WEIR_PUBLIC_URL (never
from a request's Host), served by the runner whatever its trigger (REST, MCP), and a POST of
the payload resumes the execution at once; the MCP tool reports a parked execution as waiting,
not as an error."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.runner.serving import Served

pytestmark = pytest.mark.timeout(120)

FLOW = """\
apiVersion: weir.dev/v1alpha1
kind: Flow
metadata: {name: approval}
spec:
  trigger: TRIGGER
  nodes:
    - name: ask
      wait:
        message: "Ship order ${input.order}?"
        timeout: 1h
        schema: {type: object, required: [ship], properties: {ship: {type: boolean}}}
      next: decide
    - name: decide
      transform: {set: {order: "$.input.order", ship: "$.nodes.ask.ship"}}
"""
PUBLIC = "https://approvals.example.com/weir"


def served(tmp_path: Path, trigger: str) -> Served:
    flow = tmp_path / "flow.yaml"
    flow.write_text(FLOW.replace("TRIGGER", trigger))
    runner = Served(
        flow, "--store", f"sqlite:///{tmp_path}/store.db", env={"WEIR_PUBLIC_URL": PUBLIC}
    )
    runner.wait_ready()
    return runner


def parked_output(tmp_path: Path, execution_id: str) -> dict[str, Any]:
    """The waiting node run's output, as committed (retried until the batch lands)."""
    deadline = time.monotonic() + 10
    with sqlite3.connect(tmp_path / "store.db") as db:
        while True:
            row = db.execute(
                "SELECT output FROM weir_node_runs WHERE execution_id = ? AND seq = 1",
                (execution_id,),
            ).fetchone()
            if row is not None:
                return dict(json.loads(row[0]))
            assert time.monotonic() < deadline
            time.sleep(0.05)


def status(tmp_path: Path, execution_id: str, wanted: str, timeout: float = 5) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    with sqlite3.connect(tmp_path / "store.db") as db:
        while True:
            found, result = db.execute(
                "SELECT status, result FROM weir_executions WHERE id = ?", (execution_id,)
            ).fetchone()
            if found == wanted:
                return dict(json.loads(result)) if result else {}
            assert time.monotonic() < deadline, f"{execution_id} is {found}"
            time.sleep(0.05)


def test_the_runner_serves_the_resume_url_of_a_rest_flow(tmp_path: Path) -> None:
    with served(tmp_path, "{rest: {path: /orders}}") as runner:
        answer = httpx.post(
            runner.url + "/orders", json={"order": "A-1"}, headers={"Host": "evil.example"}
        )
        assert answer.status_code == 202 and answer.json()["status"] == "waiting"
        execution_id = answer.json()["executionId"]
        output = parked_output(tmp_path, execution_id)
        path = output["resumePath"]
        assert output["resumeUrl"] == PUBLIC + path  # never the request's Host
        assert output["message"] == "Ship order A-1?" and output["expiresAt"]

        shown = httpx.get(runner.url + path).json()
        assert shown["message"] == "Ship order A-1?" and shown["state"] == "pending"
        assert path.rsplit(".", 1)[1] not in json.dumps(shown)
        refused = httpx.post(runner.url + path, json={"ship": "yes"})
        assert refused.status_code == 422 and "is not of type 'boolean'" in refused.text

        began = time.monotonic()
        done = httpx.post(runner.url + path, json={"ship": True})
        assert done.status_code == 200, done.text
        assert status(tmp_path, execution_id, "succeeded") == {"order": "A-1", "ship": True}
        assert time.monotonic() - began < 3  # the waker was poked: no wait for its poll
        again = httpx.post(runner.url + path, json={"ship": False})
        assert again.status_code == 409 and "by url" in again.json()["detail"]
        assert httpx.post(runner.url + "/waits/w1.x.y", json={}).status_code == 404


async def test_an_mcp_tool_reports_a_waiting_execution_and_its_url_resumes_it(
    tmp_path: Path,
) -> None:
    from mcp import Client

    trigger = "{mcp: {tool: ship, inputSchema: {type: object}}}"
    with served(tmp_path, trigger) as runner:
        async with Client(runner.url + "/mcp") as client:
            result = await client.call_tool("ship", {"order": "B-2"})
        assert not result.is_error, result.content[0].text
        assert result.structured_content["status"] == "waiting"
        execution_id = result.structured_content["executionId"]
        path = parked_output(tmp_path, execution_id)["resumePath"]
        assert httpx.post(runner.url + path, json={"ship": False}).status_code == 200
        assert status(tmp_path, execution_id, "succeeded") == {"order": "B-2", "ship": False}
