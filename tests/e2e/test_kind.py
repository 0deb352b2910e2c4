"""End to end on a kind cluster: the chart installs the operator, the examples are applied with
kubectl, and the Flows become healthy runners that do their work."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.cluster import CONTEXT, ROOT, create, delete, get, kubectl, wait_for


@pytest.fixture(scope="session", autouse=True)
def cluster() -> Iterator[None]:
    create()
    yield
    if os.environ.get("WEIR_E2E_KEEP") != "1":
        delete()


def condition(obj: dict[str, Any], kind: str) -> str | None:
    for item in obj.get("status", {}).get("conditions", []):
        if item["type"] == kind:
            return str(item["status"])
    return None


def test_the_crds_and_the_operator_are_installed() -> None:
    names = kubectl("get", "crd", "-o", "name")
    assert "flows.weir.dev" in names and "flowsecretrefs.weir.dev" in names
    deployment = json.loads(kubectl("get", "deployment", "-n", "weir-system", "-o", "json"))
    # The chart's console has a Deployment of its own beside the operator's.
    ready = {d["metadata"]["name"]: d["status"].get("readyReplicas") for d in deployment["items"]}
    assert ready == {"weir-operator": 1, "weir-console": 1}


def test_hello_is_valid_and_a_manual_run_completes() -> None:
    kubectl("apply", "-f", str(ROOT / "examples" / "hello" / "flow.yaml"))
    wait_for("hello Ready", lambda: condition(get("flow", "hello"), "Ready") == "True")
    kubectl(
        "annotate", "flow", "hello", 'weir.dev/run-input={"name": "Ada"}', "weir.dev/run=e2e-1",
        "--overwrite",
    )  # fmt: skip
    wait_for(
        "the manual run's Job",
        lambda: json.loads(kubectl("get", "jobs", "-l", "weir.dev/flow=hello", "-o", "json"))[
            "items"
        ],
    )
    wait_for(
        "status.lastExecution of hello",
        lambda: (
            get("flow", "hello").get("status", {}).get("lastExecution", {}).get("phase")
            == "succeeded"
        ),
    )
    printed = kubectl("get", "flows")
    assert "hello" in printed and "manual" in printed


def test_webhook_echo_answers_through_its_service() -> None:
    kubectl("apply", "-f", str(ROOT / "examples" / "webhook-echo" / "flow.yaml"))
    wait_for(
        "webhook-echo Available",
        lambda: condition(get("flow", "webhook-echo"), "Available") == "True",
        timeout=300,
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    forward = subprocess.Popen(
        [
            "kubectl",
            "--context",
            CONTEXT,
            "port-forward",
            "service/weir-webhook-echo",
            f"{port}:80",  # the Service's port, not the container's
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        import httpx

        def echo() -> Any:
            try:
                return httpx.post(f"http://127.0.0.1:{port}/echo", json={"e2e": True}, timeout=5)
            except httpx.TransportError:
                return None

        answer = wait_for("the echo", echo, timeout=60)
        assert answer.status_code == 200 and answer.json()["e2e"] is True
    finally:
        forward.terminate()
    wait_for(
        "status.lastExecution of webhook-echo",
        lambda: get("flow", "webhook-echo").get("status", {}).get("lastExecution"),
    )


def test_an_invalid_flow_is_stalled_and_deleting_a_flow_removes_its_runner() -> None:
    broken = (ROOT / "examples" / "hello" / "flow.yaml").read_text()
    broken = broken.replace("name: hello", "name: broken").replace("next: answer", "next: nowhere")
    kubectl("apply", "-f", "-", input=broken)
    wait_for("broken Stalled", lambda: condition(get("flow", "broken"), "Stalled") == "True")
    assert "nowhere" in json.dumps(get("flow", "broken")["status"])
    kubectl("delete", "flow", "webhook-echo", "--wait=true")
    time.sleep(2)
    wait_for(
        "the runner Deployment gone",
        lambda: "weir-webhook-echo" not in kubectl("get", "deployments", "-o", "name"),
    )
