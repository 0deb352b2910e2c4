"""Loading a flow never runs a code node's script: hostile scripts that try to escape the
syntax check are refused by `weir validate` and by a serving runner's hot reload.

Each subprocess has a generous timeout as the hang guard: before the fix these scripts ran at
load time (`while (true) {}` hung `weir validate` and froze `weir serve`)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from tests.runner.serving import ROOT, Served
from weir.flow.issues import FlowInvalid
from weir.flow.load import compile_flow

pytest.importorskip("py_mini_racer")

CLI = "import sys; from weir.cli import main; sys.exit(main())"

ESCAPES = [
    pytest.param("return 1 });\nwhile (true) {}\n(function(){", id="spin"),
    pytest.param("return 1 });\nnew Array(2e9).fill(1);\n(function(){", id="allocate"),
    pytest.param("}); for (;;) {} (async function (input) {", id="one-line"),
    pytest.param("return 1 })()\n;while (true) {};\n(function(){", id="called"),
]


def flow_file(path: Path, script: str, trigger: str = "{manual: {}}") -> Path:
    path.write_text(
        "apiVersion: weir.dev/v1alpha1\nkind: Flow\nmetadata: {name: hostile}\nspec:\n"
        f"  trigger: {trigger}\n"
        "  nodes:\n"
        "    - name: evil\n"
        "      code:\n"
        f"        script: {json.dumps(script)}\n"
    )
    return path


@pytest.mark.parametrize("script", ESCAPES)
def test_weir_validate_refuses_a_script_escaping_its_function_body(
    tmp_path: Path, script: str
) -> None:
    flow = flow_file(tmp_path / "flow.yaml", script)
    done = subprocess.run(
        [sys.executable, "-c", CLI, "validate", str(flow)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,  # the hang guard, not a timing assertion
    )
    assert done.returncode == 1, done.stdout + done.stderr
    message = done.stderr
    assert "node 'evil'" in message and "field code.script" in message
    assert "SyntaxError" in message
    assert "Traceback" not in message


async def test_the_operator_path_refuses_the_escape_on_its_event_loop() -> None:
    # The operator validates a Flow's spec with `compile_flow`, on its event loop. (Before the
    # fix this call ran the script on the caller's loop and never returned.)
    document = {
        "apiVersion": "weir.dev/v1alpha1",
        "kind": "Flow",
        "metadata": {"name": "hostile", "namespace": "default"},
        "spec": {
            "trigger": {"manual": {}},
            "nodes": [
                {"name": "evil", "code": {"script": "return 1 });\nwhile (true) {}\n(function(){"}}
            ],
        },
    }
    with pytest.raises(FlowInvalid) as invalid:
        compile_flow(document)
    [issue] = invalid.value.issues
    assert issue.node == "evil" and issue.field == "code.script"
    assert issue.message.startswith("SyntaxError: the script closes its function body early")


def test_a_valid_script_still_validates(tmp_path: Path) -> None:
    flow = flow_file(tmp_path / "flow.yaml", "await null;\nreturn {n: input}")
    done = subprocess.run(
        [sys.executable, "-c", CLI, "validate", str(flow)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def test_hot_reload_refuses_an_escaping_script_and_keeps_serving(tmp_path: Path) -> None:
    flow = tmp_path / "flow.yaml"
    trigger = "{rest: {path: /v}}"
    flow_file(flow, "return {v: 'one'}", trigger)
    with Served(flow, "--no-store") as served:
        assert httpx.post(served.url + "/v", json={}, timeout=30).json() == {"v": "one"}
        escape = "return 1 });\nwhile (true) {}\n(function(){"
        flow_file(tmp_path / "next.yaml", escape, trigger).replace(flow)  # atomic, as a kubelet
        ready = _eventually_ready_with_reload_error(served.url)
        error = str(ready["reloadError"])
        assert "node 'evil', field code.script: SyntaxError" in error
        health = httpx.get(served.url + "/healthz", timeout=30)
        assert health.status_code == 200
        assert httpx.post(served.url + "/v", json={}, timeout=30).json() == {"v": "one"}


def _eventually_ready_with_reload_error(url: str) -> dict[str, object]:
    # Generous deadline as the hang guard; a frozen server never answers, so each request
    # has its own timeout and a transport error is retried until the deadline.
    deadline = time.monotonic() + 60
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            ready: dict[str, object] = httpx.get(url + "/readyz", timeout=5).json()
        except httpx.TransportError as exc:
            last = repr(exc)
        else:
            if "reloadError" in ready:
                return ready
            last = json.dumps(ready)
        time.sleep(0.2)
    raise AssertionError(
        textwrap.shorten(f"the runner never reported the invalid reload: {last}", 500)
    )
