"""The console as the chart deploys it, on the real kube-apiserver: the chart's console command
run as a local process with its ServiceAccount's token (the chart's RBAC for it), the operator
likewise, a user with `create flowruns` and `get flows` in one namespace. A run the user starts
through the console is a FlowRun, whose Job (run here from its rendered container, as the
kubelet would) ships the execution back to the console under the id the console answered; a
cancel through the console marks the FlowRun Cancelled and deletes its Job, whose runner,
stopped as the kubelet stops a deleted Job's Pod, records the execution cancelled.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.kube.controlplane import ControlPlane
from tests.kube.operator_harness import (
    Api,
    Installation,
    OperatorProcess,
    eventually,
    is_console,
)
from tests.kube.test_flowrun import job_process, pending_job, phase
from tests.servers.ports import free_port

pytestmark = pytest.mark.timeout(300)
RELEASE = "weir-frc"
ROOT = Path(__file__).resolve().parents[2]
FLOWS = [ROOT / "examples" / "flowrun" / "flow.yaml", ROOT / "tests" / "console" / "flows" / "slow.yaml"]  # fmt: skip
Wait = Callable[..., Any]


@pytest.fixture(scope="module")
def console(
    controlplane: ControlPlane, installation: Installation, operator: OperatorProcess
) -> Iterator[str]:
    """The chart's console container as a local process; its base URL."""
    (deployment,) = [o for o in installation.objects if o["kind"] == "Deployment" and is_console(o)]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    command = container["command"]
    assert command[:3] == ["weir", "console", "--kube"], command
    port = free_port()
    args = [
        f"--port={port}" if a.startswith("--port=") else "--host=127.0.0.1" if a.startswith("--host=") else a
        for a in command[2:]
    ]  # fmt: skip
    workdir = installation.workdir
    kubeconfig = controlplane.service_account_kubeconfig(
        installation.namespace, pod["serviceAccountName"], workdir / "console.kubeconfig"
    )
    env = {
        "KUBECONFIG": str(kubeconfig),
        "WEIR_STORE": f"sqlite:///{workdir}/console.db",
        "PATH": os.environ["PATH"],
        "HOME": str(workdir),
        "PYTHONUNBUFFERED": "1",
    }
    log = workdir / "console.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "weir.cli", "console", *args],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert process.poll() is None, log.read_text()
        with contextlib.suppress(httpx.TransportError):
            return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
        return False

    try:
        eventually(ready, "the console's /readyz", explain=lambda: log.read_text())
        yield url
    finally:
        process.terminate()
        process.wait(30)


@pytest.fixture(scope="module")
def namespace(api: Api, controlplane: ControlPlane, operator: OperatorProcess) -> Iterator[str]:
    name = api.new_namespace("consoleruns")
    for path in FLOWS:
        document = yaml.safe_load(path.read_text())
        api.create(document, name)
        eventually(
            lambda document=document: api.get("RoleBinding", name, f"weir-{document['metadata']['name']}"),
            "the runner's RBAC", explain=operator.tail,
        )  # fmt: skip
    yield name
    api.delete("Namespace", None, name)


@pytest.fixture(scope="module")
def user(api: Api, controlplane: ControlPlane, namespace: str) -> dict[str, str]:
    """Headers of a user who may read flows and start runs in the namespace, nothing else."""
    rbac = "rbac.authorization.k8s.io/v1"
    api.create(
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "alice"}}, namespace
    )
    api.create(
        {
            "apiVersion": rbac, "kind": "Role", "metadata": {"name": "runner-of-flows"},
            "rules": [
                {"apiGroups": ["weir.dev"], "resources": ["flows"], "verbs": ["get", "list"]},
                {"apiGroups": ["weir.dev"], "resources": ["flowruns"], "verbs": ["create"]},
            ],
        },
        namespace,
    )  # fmt: skip
    api.create(
        {
            "apiVersion": rbac, "kind": "RoleBinding", "metadata": {"name": "alice"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "runner-of-flows"},
            "subjects": [{"kind": "ServiceAccount", "name": "alice", "namespace": namespace}],
        },
        namespace,
    )  # fmt: skip
    return {"Authorization": f"Bearer {controlplane.request_token(namespace, 'alice')}"}


@pytest.fixture
def wait(operator: OperatorProcess) -> Wait:
    def waiting(check: Callable[[], Any], what: str, deadline: float = 60.0) -> Any:
        return eventually(check, what, deadline, explain=operator.tail)

    return waiting


def execution(console: str, user: dict[str, str], execution_id: str) -> Any:
    answer = httpx.get(f"{console}/api/v1/executions/{execution_id}", headers=user, timeout=10)
    return answer.json() if answer.status_code == 200 else None


def start(console: str, user: dict[str, str], flow: str, namespace: str, payload: Any) -> Any:
    answer = httpx.post(
        f"{console}/api/v1/flows/{flow}/runs", params={"namespace": namespace},
        json={"input": payload}, headers=user, timeout=30,
    )  # fmt: skip
    assert answer.status_code == 202, answer.text
    return answer.json()


def test_a_run_started_through_the_console_is_shipped_back_under_its_id(
    controlplane: ControlPlane, api: Api, console: str, user: dict[str, str],
    namespace: str, installation: Installation, wait: Wait, tmp_path: Path,
) -> None:  # fmt: skip
    started = start(console, user, "invoice-total", namespace, {"customer": "ACME", "amount": 2})
    job = pending_job(api, namespace, started["flowRun"], wait)
    # The operator points the runner at the chart's console; here it listens on loopback.
    (container,) = job["spec"]["template"]["spec"]["containers"]
    rendered = {e["name"]: e.get("value") for e in container["env"]}
    assert (
        rendered["WEIR_CONSOLE_URL"] == f"http://weir-frc-console.{installation.namespace}.svc:8090"
    )
    argv, env = job_process(controlplane, api, namespace, job, tmp_path)
    env["WEIR_CONSOLE_URL"] = console
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    view = wait(lambda: execution(console, user, started["id"]), "the execution in the console")
    assert view["execution"]["status"] == "succeeded"
    assert view["execution"]["namespace"] == namespace
    assert view["execution"]["result"] == {"customer": "ACME", "total": 2.42}
    flowrun = wait(phase(api, namespace, started["flowRun"], "Succeeded"), "Succeeded")
    assert flowrun["status"]["executionId"] == started["id"]


def test_a_cancel_through_the_console_stops_the_flowruns_execution(
    controlplane: ControlPlane, api: Api, console: str, user: dict[str, str],
    namespace: str, wait: Wait, tmp_path: Path,
) -> None:  # fmt: skip
    started = start(console, user, "slow", namespace, {"ms": 60000})
    job = pending_job(api, namespace, started["flowRun"], wait)
    argv, env = job_process(controlplane, api, namespace, job, tmp_path)
    env["WEIR_CONSOLE_URL"] = console
    runner = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        # Shipped when it starts: the console shows it running, and so can cancel it.
        wait(
            lambda: (execution(console, user, started["id"]) or {}).get("execution", {}).get("status") == "running",
            "the running execution in the console",
        )  # fmt: skip
        answer = httpx.post(
            f"{console}/api/v1/executions/{started['id']}/cancel", headers=user, timeout=30
        )
        assert answer.status_code == 202, answer.text
        wait(phase(api, namespace, started["flowRun"], "Cancelled"), "Cancelled")
        wait(lambda: api.get("Job", namespace, started["flowRun"]) is None, "the Job deleted")
        # The kubelet stops a deleted Job's Pod: SIGTERM.
        runner.send_signal(signal.SIGTERM)
        began = time.monotonic()
        runner.wait(30)
        assert time.monotonic() - began < 5
    finally:
        if runner.poll() is None:
            runner.kill()
    view = wait(
        lambda: (found := execution(console, user, started["id"])) and found["execution"]["status"] != "running" and found,
        "the cancelled execution in the console",
    )  # fmt: skip
    assert view["execution"]["status"] == "cancelled"
    assert api.get("FlowRun", namespace, started["flowRun"])["status"]["phase"] == "Cancelled"


def test_a_user_without_create_flowruns_cannot_start_a_run(
    controlplane: ControlPlane, api: Api, console: str, namespace: str
) -> None:
    api.create(
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "bob"}}, namespace
    )
    bob = {"Authorization": f"Bearer {controlplane.request_token(namespace, 'bob')}"}
    before = len(api.items("FlowRun", namespace))
    answer = httpx.post(
        f"{console}/api/v1/flows/invoice-total/runs", params={"namespace": namespace},
        json={"input": {}}, headers=bob, timeout=30,
    )  # fmt: skip
    assert answer.status_code == 403, answer.text
    assert len(api.items("FlowRun", namespace)) == before
