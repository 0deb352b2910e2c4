"""The console's access control on a real API server: ServiceAccount tokens from the TokenRequest
API reviewed by TokenReview, each call authorized by SubjectAccessReview against real RBAC, the
console itself running as a ServiceAccount with only the rights docs/console-access.md gives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.console.test_access import serving as serving_client
from tests.kube.controlplane import ControlPlane
from tests.kube.operator_harness import Api
from weir.console.access import KubernetesAccess
from weir.flow.load import load_flows_text
from weir.kube.access import Reviews
from weir.kube.client import Kube
from weir.operator.render import RenderInput
from weir.operator.render.workloads import runner_rbac
from weir.operator.settings import RenderSettings

pytestmark = pytest.mark.timeout(180)
RBAC = "rbac.authorization.k8s.io/v1"


@dataclass
class Cluster:
    plane: ControlPlane
    api: Api
    home: str
    """Where the console's and the users' ServiceAccounts live."""
    a: str
    b: str
    console_kubeconfig: Path
    bare_kubeconfig: Path
    """A ServiceAccount without system:auth-delegator: it may not review tokens."""

    def account(self, name: str, namespace: str | None = None) -> str:
        """A new ServiceAccount and a token for it, as `kubectl create token` makes."""
        namespace = namespace or self.home
        self.api.create(
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}, namespace
        )
        return self.plane.request_token(namespace, name)

    def role(self, namespace: str, name: str, rules: list[dict[str, Any]]) -> None:
        self.api.create(
            {"apiVersion": RBAC, "kind": "Role", "metadata": {"name": name}, "rules": rules},
            namespace,
        )

    def bind(self, namespace: str | None, kind: str, role: str, account: str) -> None:
        """Bind the Role or ClusterRole `role` to a ServiceAccount of home, in `namespace` (a
        RoleBinding) or cluster-wide (None: a ClusterRoleBinding)."""
        binding = {
            "apiVersion": RBAC,
            "kind": "RoleBinding" if namespace else "ClusterRoleBinding",
            "metadata": {"name": f"{role}-{account}-{uuid.uuid4().hex[:4]}"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": self.home}],
        }
        self.api.create(binding, namespace)


def get_flows(resource: str = "flows", verb: str = "get") -> list[dict[str, Any]]:
    return [{"apiGroups": ["weir.dev"], "resources": [resource], "verbs": [verb]}]


@pytest.fixture(scope="module")
def cluster(
    controlplane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    workdir = tmp_path_factory.mktemp("access")
    with controlplane.client() as client:
        api = Api(client)
        home, a, b = (api.new_namespace(prefix) for prefix in ("access", "team-a", "team-b"))
        cluster = Cluster(controlplane, api, home, a, b, workdir / "console", workdir / "bare")
        cluster.account("console")
        cluster.account("bare")
        suffix = uuid.uuid4().hex[:6]
        namespaces = f"weir-console-namespaces-{suffix}"
        api.create(
            {
                "apiVersion": RBAC,
                "kind": "ClusterRole",
                "metadata": {"name": namespaces},
                "rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list"]}],
            }
        )
        cluster.bind(None, "ClusterRole", "system:auth-delegator", "console")
        cluster.bind(None, "ClusterRole", namespaces, "console")
        controlplane.service_account_kubeconfig(home, "console", cluster.console_kubeconfig)
        controlplane.service_account_kubeconfig(home, "bare", cluster.bare_kubeconfig)
        yield cluster
        for namespace in (home, a, b):
            api.delete("Namespace", None, namespace)


@pytest.fixture
async def console(cluster: Cluster) -> AsyncIterator[Kube]:
    kube = Kube(str(cluster.console_kubeconfig))
    yield kube
    await kube.close()


Call = Callable[..., Awaitable[tuple[int, Any]]]


@contextlib.asynccontextmanager
async def serving(access: KubernetesAccess) -> AsyncIterator[Call]:
    """The routes of tests/console/test_access.py, called with a bearer token."""
    async with serving_client(access) as client:

        async def call(method: str, path: str, token: str | None = None) -> tuple[int, Any]:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            response = await client.request(method, path, headers=headers)
            return response.status, await response.json(content_type=None)

        yield call


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """RBAC changes reach the apiserver's authorizer through an informer: a moment later."""
    deadline = time.monotonic() + 30
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within 30s")
        await asyncio.sleep(0.2)


async def test_a_user_reads_only_the_namespaces_rbac_gives(cluster: Cluster, console: Kube) -> None:
    token = cluster.account("reader")
    cluster.role(cluster.a, "flow-reader", get_flows())
    cluster.bind(cluster.a, "Role", "flow-reader", "reader")
    user = f"system:serviceaccount:{cluster.home}:reader"
    async with serving(KubernetesAccess(console, ttl=0)) as call:

        async def reads_a() -> bool:
            return (await call("GET", f"/ns/{cluster.a}", token))[0] == 200

        await eventually(reads_a, "the reader's RoleBinding in A")
        assert await call("GET", f"/ns/{cluster.a}", token) == (200, {"user": user})
        status, problem = await call("GET", f"/ns/{cluster.b}", token)
        assert status == 403
        assert problem["detail"] == (
            f"{user} may not get flows (weir.dev) in namespace {cluster.b!r}"
        )
        status, problem = await call("POST", f"/ns/{cluster.a}", token)
        assert status == 403 and "may not create flowruns" in problem["detail"]
        assert await call("GET", "/list", token) == (200, {"namespaces": [cluster.a]})

        cluster.role(cluster.b, "flow-reader", get_flows())
        cluster.bind(cluster.b, "Role", "flow-reader", "reader")

        async def reads_b() -> bool:
            return (await call("GET", f"/ns/{cluster.b}", token))[0] == 200

        await eventually(reads_b, "the reader's new RoleBinding in B")
        listed = await call("GET", "/list", token)
        assert listed == (200, {"namespaces": sorted([cluster.a, cluster.b])})


async def test_a_decision_is_kept_for_the_cache_ttl(cluster: Cluster, console: Kube) -> None:
    token = cluster.account("latecomer")
    async with (
        serving(KubernetesAccess(console)) as cached,
        serving(KubernetesAccess(console, ttl=0)) as fresh,
    ):
        assert (await cached("GET", f"/ns/{cluster.a}", token))[0] == 403
        cluster.role(cluster.a, "latecomer", get_flows())
        cluster.bind(cluster.a, "Role", "latecomer", "latecomer")

        async def allowed() -> bool:
            return (await fresh("GET", f"/ns/{cluster.a}", token))[0] == 200

        await eventually(allowed, "the latecomer's RoleBinding")
        # Within its 10 s the cached denial stands; the unit tests cover its expiry.
        assert (await cached("GET", f"/ns/{cluster.a}", token))[0] == 403


async def test_a_cluster_wide_reader_gets_no_namespace_filter(
    cluster: Cluster, console: Kube
) -> None:
    token = cluster.account("auditor")
    role = f"weir-flow-reader-{uuid.uuid4().hex[:6]}"
    cluster.api.create(
        {
            "apiVersion": RBAC,
            "kind": "ClusterRole",
            "metadata": {"name": role},
            "rules": get_flows(),
        }
    )
    cluster.bind(None, "ClusterRole", role, "auditor")
    async with serving(KubernetesAccess(console, ttl=0)) as call:

        async def everywhere() -> bool:
            return await call("GET", "/list", token) == (200, {"namespaces": None})

        await eventually(everywhere, "the auditor's ClusterRoleBinding")
        assert (await call("GET", f"/ns/{cluster.b}", token))[0] == 200


async def test_a_runner_ships_only_its_own_flow(cluster: Cluster, console: Kube) -> None:
    """SHIP (patch flows/status by name) is what the operator's runner Role already grants."""
    flow = load_flows_text(
        "apiVersion: weir.dev/v1alpha1\nkind: Flow\nmetadata: {name: orders}\nspec:\n"
        "  trigger: {manual: {}}\n  nodes:\n    - name: a\n      log: {message: hi}\n"
    )[0]
    for obj in runner_rbac(RenderInput(flow, cluster.a, RenderSettings())):
        cluster.api.create(obj, cluster.a)
    account = next(o for o in runner_rbac(RenderInput(flow, cluster.a, RenderSettings())))
    token = cluster.plane.request_token(cluster.a, account["metadata"]["name"])
    async with serving(KubernetesAccess(console, ttl=0)) as call:

        async def ships() -> bool:
            return (await call("POST", f"/ns/{cluster.a}/ship/orders", token))[0] == 200

        await eventually(ships, "the runner's Role")
        assert (await call("POST", f"/ns/{cluster.a}/ship/invoices", token))[0] == 403
        assert (await call("POST", f"/ns/{cluster.b}/ship/orders", token))[0] == 403
        assert (await call("POST", f"/ns/{cluster.a}", token))[0] == 403  # no runs
    # Reading its own flow's executions (a FlowRun's replay fetches its original from the
    # console) is asked by the flow's name: the Role grants `get` on that name only.
    reviews = Reviews(console, ttl=0)
    user = (await reviews.authenticate(token)).user
    assert user is not None
    read = {"verb": "get", "group": "weir.dev", "resource": "flows", "namespace": cluster.a}
    assert await reviews.allowed(user, **read, name="orders")
    assert not await reviews.allowed(user, **read)
    assert not await reviews.allowed(user, **read, name="invoices")


async def test_a_token_the_cluster_did_not_issue_is_refused(console: Kube) -> None:
    async with serving(KubernetesAccess(console, allow_loopback_unauthenticated=True)) as call:
        status, problem = await call("GET", "/ns/default", "not-a-token")
        assert status == 401 and problem["detail"].startswith("the token was not accepted")


async def test_a_console_that_may_not_review_tokens_answers_503(cluster: Cluster) -> None:
    token = cluster.account("someone")
    bare = Kube(str(cluster.bare_kubeconfig))
    try:
        async with serving(KubernetesAccess(bare, ttl=0)) as call:
            status, problem = await call("GET", f"/ns/{cluster.a}", token)
            assert status == 503
            assert "system:auth-delegator" in problem["detail"], problem
    finally:
        await bare.close()
