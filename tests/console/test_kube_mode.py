"""`weir console --kube` on a real API server: Flows read from it, every call authenticated with
TokenReview and authorized with SubjectAccessReview, a run started as a FlowRun."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from tests.kube.conftest import controlplane  # noqa: F401  (the session's control plane)
from tests.kube.controlplane import ControlPlane
from tests.kube.operator_harness import Api, install_crds
from weir.console.server import ConsoleOptions, ConsoleServer

pytestmark = pytest.mark.timeout(180)
HELLO = Path(__file__).parents[2] / "examples" / "hello" / "flow.yaml"
RBAC = "rbac.authorization.k8s.io/v1"


class Cluster:
    def __init__(self, plane: ControlPlane, api: Api, a: str, b: str) -> None:
        self.plane, self.api, self.a, self.b = plane, api, a, b

    def reader_of(self, namespace: str) -> str:
        """A token of a new ServiceAccount that may get Flows in ``namespace`` only."""
        name = f"reader-{uuid.uuid4().hex[:6]}"
        self.api.create(
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}, self.a
        )
        rules = [{"apiGroups": ["weir.dev"], "resources": ["flows"], "verbs": ["get"]}]
        self.api.create(
            {"apiVersion": RBAC, "kind": "Role", "metadata": {"name": name}, "rules": rules},
            namespace,
        )
        self.api.create(
            {
                "apiVersion": RBAC,
                "kind": "RoleBinding",
                "metadata": {"name": name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": self.a}],
            },
            namespace,
        )
        return self.plane.request_token(self.a, name)


@pytest.fixture(scope="module")
def cluster(controlplane: ControlPlane) -> Iterator[Cluster]:  # noqa: F811
    install_crds(controlplane)
    flow = yaml.safe_load(HELLO.read_text())
    with controlplane.client() as client:
        api = Api(client)
        a, b = api.new_namespace("console-a"), api.new_namespace("console-b")
        for namespace in (a, b):
            api.create(flow, namespace)
        yield Cluster(controlplane, api, a, b)
        for namespace in (a, b):
            api.delete("Namespace", None, namespace)


@pytest.fixture
async def base(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[str]:
    monkeypatch.setenv("KUBECONFIG", str(cluster.plane.kubeconfig))
    server = ConsoleServer(
        ConsoleOptions(kube=True, store=f"sqlite:///{tmp_path}/console.db", port=0)
    )
    await server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.stop()


async def call(
    base: str, method: str, path: str, token: str | None, body: Any = None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, base + path, headers=headers, json=body) as response,
    ):
        return response.status, await response.json(content_type=None)


async def eventually(check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    """RBAC changes reach the authorizer a moment after they are written."""
    deadline = time.monotonic() + timeout
    while True:
        found = await check()
        if found:
            return found
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.2)


async def test_flows_come_from_the_cluster_for_whoever_may_read_them(
    cluster: Cluster, base: str
) -> None:
    admin = cluster.plane.token
    status, listed = await call(base, "GET", "/api/v1/flows", admin)
    assert status == 200, listed
    names = {(flow["namespace"], flow["name"]) for flow in listed["items"]}
    assert {(cluster.a, "hello"), (cluster.b, "hello")} <= names
    status, detail = await call(base, "GET", f"/api/v1/flows/hello?namespace={cluster.a}", admin)
    assert status == 200 and detail["spec"]["nodes"][0]["name"] == "greet"
    assert detail["trigger"] == "manual" and f"namespace: {cluster.a}" in detail["yaml"]

    status, problem = await call(base, "GET", "/api/v1/flows", None)
    assert status == 401 and problem["status"] == 401
    reader = cluster.reader_of(cluster.a)

    async def reads_only_a() -> bool:
        status, listed = await call(base, "GET", "/api/v1/flows", reader)
        return status == 200 and {f["namespace"] for f in listed["items"]} == {cluster.a}

    await eventually(reads_only_a, "the reader lists the flows of namespace A only")
    status, problem = await call(base, "GET", f"/api/v1/executions?namespace={cluster.b}", reader)
    assert status == 403 and cluster.b in problem["detail"]
    status, problem = await call(
        base, "POST", f"/api/v1/flows/hello/runs?namespace={cluster.a}", reader, {"input": {}}
    )
    assert status == 403, problem


async def test_a_run_started_through_the_console_is_a_flowrun(cluster: Cluster, base: str) -> None:
    status, started = await call(
        base,
        "POST",
        f"/api/v1/flows/hello/runs?namespace={cluster.a}",
        cluster.plane.token,
        {"input": {"name": "Ada"}},
    )
    assert status == 202, started
    assert started["flowRun"]
    flow_run = cluster.api.get("FlowRun", cluster.a, started["flowRun"])
    assert flow_run["spec"]["flowRef"] == "hello"
    assert flow_run["spec"]["input"] == {"name": "Ada"}
    status, missing = await call(
        base, "POST", f"/api/v1/flows/nope/runs?namespace={cluster.a}", cluster.plane.token, {}
    )
    assert status == 404, missing
