"""`helm install` on a real apiserver: every object the chart renders (Helm's engine, through its
SDK), in cluster-wide and namespaced mode, is accepted by kube-apiserver as server-side apply —
Deployment, Service, PodDisruptionBudget, RBAC, peering objects — after the chart's CRDs."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.kube.controlplane import ControlPlane
from tests.kube.operator_harness import CLUSTER_SCOPED, install_crds, kubectl_apply, render_chart


@pytest.mark.parametrize(
    "values",
    [{}, {"watchNamespaces": ["WATCHED"], "replicas": 2}],
    ids=["cluster-wide", "namespaced"],
)
def test_the_whole_chart_applies_to_a_real_apiserver(
    controlplane: ControlPlane, tmp_path: Path, values: dict[str, Any]
) -> None:
    install_crds(controlplane)
    suffix = uuid.uuid4().hex[:6]
    release, namespace, watched = f"weir-{suffix}", f"weir-system-{suffix}", f"team-{suffix}"
    if values.get("watchNamespaces"):
        values = {**values, "watchNamespaces": [watched]}
    with controlplane.client() as admin:
        for name in (namespace, watched):
            admin.post("/api/v1/namespaces", json={"metadata": {"name": name}}).raise_for_status()
    objects = render_chart(release, namespace, values)
    for obj in objects:  # what `helm install -n NAMESPACE` does for namespaced objects
        if obj["kind"] not in CLUSTER_SCOPED:
            obj["metadata"].setdefault("namespace", namespace)
    kinds = {obj["kind"] for obj in objects}
    assert {"Deployment", "Service", "ServiceAccount", "PodDisruptionBudget"} <= kinds
    kubectl_apply(controlplane, objects, tmp_path / "chart.yaml")
    with controlplane.client() as admin:
        deployment = admin.get(
            f"/apis/apps/v1/namespaces/{namespace}/deployments/{release}-operator"
        ).json()
        assert deployment["spec"]["replicas"] == values.get("replicas", 1)
        command = deployment["spec"]["template"]["spec"]["containers"][0]["command"]
        assert f"--peering={release}-operator" in command
