"""The subflow node's cluster path without a cluster: a `weir serve --console` runner that
has only its own flow file starts the child through a `weir console` (local mode, its own
process, which alone knows the child flow and runs it); the runner learns the child's end by
asking the console, resolves its own wait and resumes the parent. A failed child fails the
parent's node with the child's error inside; a child the console does not know is a node
error naming it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx

from tests.console.test_console_command import started_console
from tests.runner.serving import Served
from tests.serve.consoles import wait_until
from tests.test_examples import weir

CHILD = """\
apiVersion: weir.dev/v1alpha1
kind: Flow
metadata: {name: divider}
spec:
  trigger: {manual: {}}
  nodes:
    - name: divide
      transform:
        set:
          quotient: "${100 / input.n}"
          parent: "$.trigger.parent"
"""

PARENT = """\
apiVersion: weir.dev/v1alpha1
kind: Flow
metadata: {name: caller}
spec:
  trigger: {rest: {path: /go}}
  nodes:
    - name: pick
      transform: {set: {}}
      when:
        - condition: input.flow == "divider"
          next: call
      otherwise: lost
    - name: call
      subflow: {flow: divider, input: {n: "$.input.n"}}
      next: done
      onError: [failed]
    - name: lost
      subflow: {flow: nowhere}
    - name: done
      transform: {set: {quotient: "$.nodes.call.result.quotient", child: "$.nodes.call.executionId"}}
    - name: failed
      transform: {set: {type: "$.error.type", message: "$.error.message", child: "$.error.childExecutionId"}}
"""


def execution(console: str, execution_id: str) -> dict[str, Any]:
    answer = httpx.get(f"{console}/api/v1/executions/{execution_id}", timeout=10)
    if answer.status_code != 200:
        return {}
    found: dict[str, Any] = answer.json()["execution"]
    return found


def ended(console: str, execution_id: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def check() -> bool:
        seen.update(execution(console, execution_id))
        return seen.get("status") in ("succeeded", "failed", "cancelled")

    wait_until(check, timeout=30, what=f"execution {execution_id} ended at the console")
    return seen


def console_of(tmp_path: Path, **flows: str) -> tuple[subprocess.Popen[str], str]:
    """A `weir console` in local mode that alone knows ``flows`` (name → text)."""
    directory = tmp_path / "console-flows"
    directory.mkdir()
    for name, text in flows.items():
        (directory / f"{name}.yaml").write_text(text)
    return started_console("--store", f"sqlite:///{tmp_path}/console.db", str(directory))


def test_a_runner_calls_a_flow_only_the_console_knows(tmp_path: Path) -> None:
    runner = tmp_path / "runner"
    runner.mkdir()
    (runner / "caller.yaml").write_text(PARENT)
    console, url = console_of(tmp_path, divider=CHILD)
    try:
        store = f"sqlite:///{tmp_path}/runner.db"
        with Served(runner / "caller.yaml", "--store", store, "--console", url) as served:
            go = httpx.post(served.url + "/go", json={"flow": "divider", "n": 4}, timeout=30)
            assert go.status_code == 202 and go.json()["status"] == "waiting", go.text
            parent_id = go.json()["executionId"]
            done = ended(url, parent_id)
            assert done["status"] == "succeeded", done
            assert done["result"]["quotient"] == 25
            child = execution(url, done["result"]["child"])
            assert child["flow"] == "divider" and child["triggerKind"] == "subflow"
            parent = child["trigger"]["parent"]
            assert parent["executionId"] == parent_id
            assert (parent["node"], parent["flow"], parent["depth"]) == ("call", "caller", 1)

            # A child that fails: the parent's node fails with its error and takes onError.
            go = httpx.post(served.url + "/go", json={"flow": "divider", "n": 0}, timeout=30)
            assert go.status_code == 202, go.text
            done = ended(url, go.json()["executionId"])
            assert done["status"] == "succeeded", done
            assert done["result"]["type"] == "subflow"
            assert "child flow 'divider'" in done["result"]["message"]
            assert execution(url, done["result"]["child"])["status"] == "failed"

            # A flow the console does not know: a clear node error, no child.
            go = httpx.post(served.url + "/go", json={"flow": "nowhere", "n": 1}, timeout=30)
            assert go.status_code == 500, go.text
            error = go.json()["error"]
            assert error["type"] == "config"
            assert (
                error["message"]
                == f"node lost: subflow: no flow named 'nowhere' at the console {url}"
            )
    finally:
        console.terminate()
        console.wait(10)


def test_weir_run_with_a_console_waits_for_a_child_the_console_runs(tmp_path: Path) -> None:
    """As a CronJob's pod does: `weir run` with WEIR_CONSOLE_URL starts the child through the
    console and waits in its process, asking the console, until the child ended."""
    runner = tmp_path / "runner"
    runner.mkdir()
    (runner / "caller.yaml").write_text(PARENT)
    console, url = console_of(tmp_path, divider=CHILD)
    try:
        done = weir(
            "run", str(runner / "caller.yaml"), "--input", json.dumps({"flow": "divider", "n": 5}),
            "--store", f"sqlite:///{tmp_path}/runner.db", "-q", env={"WEIR_CONSOLE_URL": url},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["quotient"] == 20
        child = execution(url, result["child"])
        assert child["status"] == "succeeded" and child["triggerKind"] == "subflow"
    finally:
        console.terminate()
        console.wait(10)


SLEEPY = """\
apiVersion: weir.dev/v1alpha1
kind: Flow
metadata: {name: sleepy}
spec:
  trigger: {manual: {}}
  nodes:
    - {name: nap, sleep: {for: 1h}}
"""

WAITER = """\
apiVersion: weir.dev/v1alpha1
kind: Flow
metadata: {name: waiter}
spec:
  trigger: {rest: {path: /go}}
  nodes:
    - {name: call, subflow: {flow: sleepy}}
"""


def test_cancelling_a_runners_parent_at_the_console_cancels_its_child(tmp_path: Path) -> None:
    (tmp_path / "waiter.yaml").write_text(WAITER)
    console, url = console_of(tmp_path, sleepy=SLEEPY)
    try:
        store = f"sqlite:///{tmp_path}/runner.db"
        with Served(tmp_path / "waiter.yaml", "--store", store, "--console", url) as served:
            go = httpx.post(served.url + "/go", json={}, timeout=30)
            assert go.status_code == 202, go.text
            parent_id = go.json()["executionId"]
            wait_until(lambda: execution(url, parent_id).get("status") == "waiting", timeout=30)
            [child] = [
                e
                for e in httpx.get(f"{url}/api/v1/executions?flow=sleepy").json()["items"]
                if e["status"] == "waiting"
            ]
            cancel = httpx.post(f"{url}/api/v1/executions/{parent_id}/cancel", timeout=10)
            assert cancel.status_code == 202, cancel.text
            assert ended(url, child["id"])["status"] == "cancelled"
    finally:
        console.terminate()
        console.wait(10)
