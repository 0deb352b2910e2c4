"""One test plays kubelet: the operator renders the webhook-echo runner into KMock, the pod
template's own command, environment and mounted files start `weir serve` locally, a request to
the REST trigger runs the flow, and the runner reports `status.lastExecution` on the Flow."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import yaml
from kopf.testing import KopfRunner

from tests.operator.cluster import Cluster
from tests.operator.kubelet import start_pod
from tests.operator.test_handlers import cluster, operator  # noqa: F401  (fixtures)
from tests.runner.serving import ROOT, free_port

ECHO = ROOT / "examples" / "webhook-echo" / "flow.yaml"


async def test_the_rendered_pod_serves_the_flow_and_reports_its_status(
    cluster: Cluster,  # noqa: F811
    operator: KopfRunner,  # noqa: F811
    tmp_path: Path,
) -> None:
    flow = yaml.safe_load(ECHO.read_text())
    await cluster.create(flow)

    async def deployment() -> Any:
        return await cluster.get("Deployment", "weir-webhook-echo")

    rendered = await cluster.wait_for("the runner Deployment", deployment)
    port = free_port()
    pod = await start_pod(
        cluster,
        rendered["spec"]["template"],
        tmp_path / "pod",
        name="weir-webhook-echo-5d8f9-abcde",
        kubeconfig=Path(str(tmp_path / "kubeconfig")),
        port=port,
        env={"WEIR_REPORT_INTERVAL": "0.2"},
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            if pod.process.poll() is not None:
                raise AssertionError(f"the runner exited:\n{pod.output()}")
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
        async with httpx.AsyncClient() as client:
            answer = await client.post(url + "/echo", json={"order": 7})
        assert answer.status_code == 200 and answer.json()["order"] == 7
        execution = answer.headers["X-Weir-Execution-Id"]

        async def reported() -> Any:
            status = (await cluster.get("Flow", "webhook-echo")).get("status", {})
            return status.get("lastExecution", {}).get("id") == execution and status

        status = await cluster.wait_for("status.lastExecution", reported)
        assert status["lastExecution"]["phase"] == "succeeded"
        assert status["executions"]["succeeded"] == 1
    finally:
        assert pod.stop() == 0, pod.output()
    # The store and temporary files went to the pod's volumes, nowhere else.
    assert (tmp_path / "pod" / "var" / "lib" / "weir" / "executions.db").exists()
