"""In a cluster, a subflow's child is a FlowRun: a run started through the console with
``parent`` carries it in the FlowRun's ``spec.parent`` (kept by the apiserver, not pruned),
which `weir flowrun` turns into the child's ``$.trigger.parent``."""

from __future__ import annotations

from tests.console.test_kube_mode import Cluster, base, call, cluster  # noqa: F401 - fixtures
from tests.kube.conftest import controlplane  # noqa: F401  (the session's control plane)


async def test_a_child_run_is_a_flowrun_naming_its_parent(
    cluster: Cluster,  # noqa: F811
    base: str,  # noqa: F811
) -> None:
    parent = {"executionId": "01parent", "node": "call", "flow": "nightly", "depth": 1}
    status, started = await call(
        base,
        "POST",
        f"/api/v1/flows/hello/runs?namespace={cluster.a}",
        cluster.plane.token,
        {"input": {"name": "Ada"}, "parent": parent},
    )
    assert status == 202, started
    flow_run = cluster.api.get("FlowRun", cluster.a, started["flowRun"])
    assert flow_run["spec"]["parent"] == parent
    assert flow_run["spec"]["input"] == {"name": "Ada"}
