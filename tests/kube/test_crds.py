"""The CRDs on a real kube-apiserver: accepted by `kubectl apply --server-side` (CEL rules
compiled and their cost estimated within budget), every example Flow accepted, and invalid
Flows refused by the apiserver itself with a message that names the field."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.kube.controlplane import ControlPlane

ROOT = Path(__file__).resolve().parents[2]
FLOWS = "/apis/weir.dev/v1alpha1/namespaces/{namespace}/flows"


def install_crds(plane: ControlPlane, directory: Path) -> str:
    done = plane.kubectl(
        "apply", "--server-side", "--field-manager=weir-tests", "-f", str(directory)
    )
    assert done.returncode == 0, done.stderr
    waited = plane.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s",
        "crd/flows.weir.dev", "crd/flowsecretrefs.weir.dev",
    )  # fmt: skip
    assert waited.returncode == 0, waited.stderr
    return done.stdout


@pytest.fixture(scope="module")
def admin(controlplane: ControlPlane) -> Iterator[httpx.Client]:
    install_crds(controlplane, ROOT / "crds")
    with controlplane.client() as client:
        yield client


@pytest.fixture(scope="module")
def namespace(admin: httpx.Client) -> Iterator[str]:
    name = f"crds-{uuid.uuid4().hex[:6]}"
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    admin.post("/api/v1/namespaces", json=body).raise_for_status()
    yield name
    admin.delete(f"/api/v1/namespaces/{name}")


def test_the_repository_and_chart_crds_are_accepted_server_side(
    controlplane: ControlPlane, admin: httpx.Client
) -> None:
    applied = install_crds(controlplane, ROOT / "charts" / "weir" / "crds")
    assert "flows.weir.dev serverside-applied" in applied
    crd = admin.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/flows.weir.dev")
    conditions = {c["type"]: c["status"] for c in crd.json()["status"]["conditions"]}
    assert conditions["Established"] == "True" and conditions["NamesAccepted"] == "True"


EXAMPLES = sorted((ROOT / "examples").glob("*/flow.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.parent.name for p in EXAMPLES])
def test_every_example_flow_is_accepted(admin: httpx.Client, namespace: str, path: Path) -> None:
    for document in yaml.safe_load_all(path.read_text()):
        if not document or document.get("kind") != "Flow":
            continue
        document["metadata"]["namespace"] = namespace
        created = admin.post(
            FLOWS.format(namespace=namespace), params={"fieldValidation": "Strict"}, json=document
        )
        assert created.status_code == 201, created.text
        # Nothing was pruned: the stored spec is the spec as written.
        assert created.json()["spec"] == document["spec"]


def valid_flow() -> dict[str, Any]:
    return {
        "apiVersion": "weir.dev/v1alpha1",
        "kind": "Flow",
        "metadata": {"name": "orders"},
        "spec": {
            "trigger": {"cron": {"schedule": "0 3 * * *"}},
            "nodes": [{"name": "fetch", "log": {"message": "hi"}, "retry": {"maxAttempts": 2}}],
        },
    }


def changed(**paths: Any) -> dict[str, Any]:
    """The valid flow with values set at dotted paths (``None`` deletes the key)."""
    flow = valid_flow()
    for dotted, value in paths.items():
        *parents, last = dotted.split("__")
        target: Any = flow
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if value is None:
            del target[last]
        else:
            target[last] = value
    return flow


def with_node(**fields: Any) -> dict[str, Any]:
    flow = valid_flow()
    flow["spec"]["nodes"] = [{"name": "fetch", **fields}]
    return flow


INVALID = {
    "two kinds in one node": (
        with_node(log={"message": "a"}, transform={"set": {"a": 1}}),
        ["spec.nodes[0]", "a node takes exactly one of"],
    ),
    "a node with no kind": (with_node(), ["spec.nodes[0]", "a node takes exactly one of"]),
    "no trigger": (changed(spec__trigger=None), ["spec.trigger", "Required value"]),
    "two trigger kinds": (
        changed(spec__trigger={"cron": {"schedule": "0 3 * * *"}, "manual": {}}),
        ["spec.trigger", "a trigger takes exactly one of"],
    ),
    "a schedule that is not cron": (
        changed(spec__trigger__cron__schedule="every day"),
        ["spec.trigger.cron.schedule", "should match"],
    ),
    "a cron with seconds": (
        changed(spec__trigger__cron__schedule="*/5 * * * * *"),
        ["spec.trigger.cron.schedule", "should match"],
    ),
    "a name over 47 characters": (
        changed(metadata__name="x" * 48),
        ["metadata.name: at most 47 characters"],
    ),
    "a name that is no DNS label": (changed(metadata__name="orders.v2"), ["a DNS label"]),
    "an unknown field in the spec": (changed(spec__nodez=[]), ['unknown field "spec.nodez"']),
    "an unknown field in a node": (
        with_node(log={"mesage": "typo"}),
        ['unknown field "spec.nodes[0].log.mesage"'],
    ),
    "a string for a boolean": (changed(spec__suspend="yes"), ["spec.suspend", "boolean"]),
    "a string for a number": (
        changed(spec__nodes__0__retry={"maxAttempts": "three"}),
        ["spec.nodes[0].retry.maxAttempts", "integer"],
    ),
    "zero attempts": (
        changed(spec__nodes__0__retry={"maxAttempts": 0}),
        ["spec.nodes[0].retry.maxAttempts", "greater than or equal to 1"],
    ),
    "a node name that CEL cannot read": (
        changed(spec__nodes__0__name="fetch-users"),
        ["spec.nodes[0].name", "should match"],
    ),
    "no nodes": (changed(spec__nodes=[]), ["spec.nodes", "at least 1 items"]),
    "more nodes than the limit": (
        changed(spec__nodes=[{"name": f"n{i}", "log": {"message": "x"}} for i in range(501)]),
        ["spec.nodes", "must have at most 500 items"],
    ),
    "an unknown concurrency policy": (
        changed(spec__trigger__cron__concurrencyPolicy="Sometimes"),
        ["spec.trigger.cron.concurrencyPolicy", "Unsupported value"],
    ),
    "a FlowSecretRef name that is no Kubernetes name": (
        changed(spec__secrets=[{"name": "crm", "flowSecretRef": "CRM_API"}]),
        ["spec.secrets[0].flowSecretRef", "should match"],
    ),
    "too many replicas": (
        changed(spec__scaling={"maxReplicas": 1000}),
        ["spec.scaling.maxReplicas", "less than or equal to 100"],
    ),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_an_invalid_flow_is_refused_by_the_apiserver_naming_the_field(
    admin: httpx.Client, namespace: str, case: str
) -> None:
    flow, expected = INVALID[case]
    flow = copy.deepcopy(flow)
    flow["metadata"]["namespace"] = namespace
    answer = admin.post(
        FLOWS.format(namespace=namespace),
        params={"fieldValidation": "Strict", "dryRun": "All"},
        json=flow,
    )
    assert answer.status_code in (400, 422), answer.text
    message = answer.json()["message"]
    for part in expected:
        assert part in message, message


def test_the_valid_flow_of_the_table_is_accepted(admin: httpx.Client, namespace: str) -> None:
    flow = valid_flow()
    flow["metadata"]["namespace"] = namespace
    answer = admin.post(FLOWS.format(namespace=namespace), params={"dryRun": "All"}, json=flow)
    assert answer.status_code == 201, answer.text
