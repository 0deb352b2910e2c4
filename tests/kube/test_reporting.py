"""Runner status reports on a real apiserver: two replicas adding their counts at once lose
none (each write is conditional on the resourceVersion it read), and only what the runner owns
is written."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest

from tests.kube.controlplane import ControlPlane
from tests.kube.test_crds import install_crds
from weir.engine.executor import ExecutionResult
from weir.serve.reporting import StatusReporter

ROOT = Path(__file__).resolve().parents[2]


def result(n: int, status: str) -> ExecutionResult:
    now = time.time()
    error = {"node": "a", "message": "boom"} if status == "failed" else None
    return ExecutionResult(f"id-{n}", "echo", status, None, error, now - 0.1, now, [])


async def test_two_replicas_reporting_at_once_lose_no_count(
    controlplane: ControlPlane, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_crds(controlplane, ROOT / "crds")
    namespace = f"report-{uuid.uuid4().hex[:6]}"
    flow = {
        "apiVersion": "weir.dev/v1alpha1",
        "kind": "Flow",
        "metadata": {"name": "echo"},
        "spec": {"trigger": {"manual": {}}, "nodes": [{"name": "a", "log": {"message": "x"}}]},
    }
    with controlplane.client() as admin:
        admin.post("/api/v1/namespaces", json={"metadata": {"name": namespace}}).raise_for_status()
        flows = f"/apis/weir.dev/v1alpha1/namespaces/{namespace}/flows"
        admin.post(flows, json=flow).raise_for_status()
    monkeypatch.setenv("KUBECONFIG", str(controlplane.kubeconfig))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    replicas = [StatusReporter(namespace, "echo", interval=0) for _ in range(2)]
    rounds = 15
    for n in range(rounds):
        for number, reporter in enumerate(replicas):
            reporter.execution_finished(result(n * 2 + number, "succeeded" if n % 3 else "failed"))
        # Both replicas write at the same moment, each from what it read.
        await asyncio.gather(*(reporter.flush() for reporter in replicas))
    for reporter in replicas:
        await reporter.aclose()
    with controlplane.client() as admin:
        status = admin.get(f"{flows}/echo").json()["status"]
    failed = 2 * len([n for n in range(rounds) if n % 3 == 0])
    assert status["executions"] == {"succeeded": 2 * rounds - failed, "failed": failed}
    assert set(status) == {"executions", "lastExecution"}
