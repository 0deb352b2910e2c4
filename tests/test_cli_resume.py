"""`weir resume TOKEN --input JSON`: in the store (and on with --file, in this process) and
through a console (--server); `weir run` of a flow that parks on a wait prints, per open wait,
the resume command and URL. Exit codes: 2 for a payload the schema rejects (every problem
listed), 1 for a repeat (409, with the stored result) or an unknown token (404)."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from tests.servers.ports import free_port
from tests.test_cli_server import Console, weir

pytestmark = pytest.mark.timeout(180)

FLOW = """\
apiVersion: weir.dev/v1alpha1
kind: Flow
metadata: {name: approval}
spec:
  trigger: {manual: {}}
  nodes:
    - name: ask
      wait:
        message: "Approve ${input.item}?"
        schema:
          type: object
          required: [approved, note]
          properties: {approved: {type: boolean}, note: {type: string}}
      next: decide
    - name: decide
      transform: {set: {item: "$.input.item", approved: "$.nodes.ask.approved"}}
"""
TOKEN = re.compile(r"weir resume (w1\.\S+)")


@pytest.fixture
def flow(tmp_path: Path) -> Path:
    path = tmp_path / "flows" / "approval.yaml"
    path.parent.mkdir()
    path.write_text(FLOW)
    return path


def test_run_prints_how_to_resume_and_resume_goes_on_here(flow: Path, tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/store.db"
    ran = weir(
        "run", str(flow), "--input", '{"item": "PO-9"}', "--store", store,
        env={"WEIR_PUBLIC_URL": "https://weir.example.com"},
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["status"] == "waiting"
    [line] = [x for x in ran.stderr.splitlines() if "waits at node ask" in x]
    token = TOKEN.search(line)
    assert token is not None, line
    assert f"POST the payload to https://weir.example.com/waits/{token[1]}" in line

    wrong = weir("resume", token[1], "--input", '{"approved": "y"}', "--store", store)
    assert wrong.returncode == 2
    assert "payload.approved: 'y' is not of type 'boolean'" in wrong.stderr
    assert "'note' is a required property" in wrong.stderr

    good = '{"approved": true, "note": "ok"}'
    done = weir("resume", token[1], "--input", good, "--store", store, "--file", str(flow.parent))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"item": "PO-9", "approved": True}

    again = weir("resume", token[1], "--input", good, "--store", store)
    assert again.returncode == 1
    assert "already resolved by cli:" in again.stderr and "(409)" in again.stderr
    unknown = weir("resume", token[1][:-3] + "abc", "--input", good, "--store", store)
    assert unknown.returncode == 1 and "(404)" in unknown.stderr


def test_resume_without_the_flow_resolves_and_says_who_resumes(flow: Path, tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/store.db"
    ran = weir("run", str(flow), "--input", '{"item": "PO-3"}', "--store", store)
    token = TOKEN.search(ran.stderr)
    assert token is not None, ran.stderr
    done = weir(
        "resume", token[1], "--input", '{"approved": false, "note": "no"}', "--store", store
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "resolved"
    assert "a runner of flow approval on this store" in done.stderr


def test_resume_through_a_console(flow: Path, tmp_path: Path) -> None:
    port = free_port()
    store = f"sqlite:///{tmp_path}/console.db"
    console = Console(f"http://127.0.0.1:{port}", store, port, args=(str(flow.parent),))
    console.start(tmp_path / "console.log")
    try:
        started = httpx.post(
            f"{console.url}/api/v1/flows/approval/runs", json={"input": {"item": "PO-5"}}
        ).json()
        execution_id = started["id"]
        output = None
        for _ in range(100):
            node = httpx.get(f"{console.url}/api/v1/executions/{execution_id}/nodes/1")
            if node.status_code == 200 and node.json()["status"] == "waiting":
                output = node.json()["output"]
                break
            time.sleep(0.1)
        assert output is not None
        # The console shows the token without its secret; the store that recorded it holds it
        # whole (what `weir run` prints, what a privileged reader finds).
        assert output["resumePath"].endswith(".…")
        with sqlite3.connect(tmp_path / "console.db") as db:
            ((recorded,),) = db.execute(
                "SELECT output FROM weir_node_runs WHERE execution_id = ? AND seq = 1",
                (execution_id,),
            ).fetchall()
        token = json.loads(recorded)["resumePath"].removeprefix("/waits/")
        wrong = weir("resume", token, "--input", "{}", "--server", console.url)
        assert wrong.returncode == 2 and "'approved' is a required property" in wrong.stderr
        good = '{"approved": true, "note": "fine"}'
        done = weir("resume", token, "--input", good, "--server", console.url)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["resolvedBy"] == "console"
        for _ in range(50):  # the console's waker was poked: resumed within moments
            view = httpx.get(f"{console.url}/api/v1/executions/{execution_id}").json()
            if view["execution"]["status"] == "succeeded":
                break
            time.sleep(0.1)
        assert [n["node"] for n in view["nodes"]] == ["ask", "decide"], view
        again = weir("resume", token, "--input", good, "--server", console.url)
        assert again.returncode == 1 and "already resolved by console" in again.stderr
    finally:
        console.stop()
