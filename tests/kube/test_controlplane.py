"""The control plane is real: objects persist in etcd, kube-controller-manager collects
garbage, and RBAC refuses a ServiceAccount what it was not granted."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.kube.controlplane import ControlPlane

DEADLINE = 60.0


def kubectl(plane: ControlPlane, *args: str, kubeconfig: Path | None = None) -> str:
    done = plane.kubectl(*args, kubeconfig=kubeconfig)
    assert done.returncode == 0, done.stderr
    return done.stdout


def eventually(check: Callable[[], bool], what: str) -> None:
    """Poll until ``check()`` holds: controllers act asynchronously."""
    deadline = time.monotonic() + DEADLINE
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {DEADLINE}s")
        time.sleep(0.2)


@pytest.fixture
def admin(controlplane: ControlPlane) -> Iterator[httpx.Client]:
    with controlplane.client() as client:
        yield client


@pytest.fixture
def namespace(admin: httpx.Client) -> Iterator[str]:
    name = f"test-{uuid.uuid4().hex[:8]}"
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    admin.post("/api/v1/namespaces", json=body).raise_for_status()
    yield name
    admin.delete(f"/api/v1/namespaces/{name}")


def configmap(name: str, **metadata: object) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, **metadata},
        "data": {"key": "value"},
    }


def test_kubectl_stores_a_namespace_and_a_configmap(controlplane: ControlPlane) -> None:
    name = f"kubectl-{uuid.uuid4().hex[:8]}"
    kubectl(controlplane, "create", "namespace", name)
    kubectl(controlplane, "-n", name, "create", "configmap", "settings", "--from-literal=a=b")

    stored = json.loads(
        kubectl(controlplane, "-n", name, "get", "configmap", "settings", "-o", "json")
    )

    assert stored["data"] == {"a": "b"}
    assert stored["metadata"]["uid"]
    kubectl(controlplane, "delete", "namespace", name, "--wait=false")


def test_garbage_collector_deletes_a_dependent_of_a_deleted_owner(
    admin: httpx.Client, namespace: str
) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    owner = admin.post(base, json=configmap("owner"))
    owner.raise_for_status()
    reference = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "owner",
        "uid": owner.json()["metadata"]["uid"],
    }
    admin.post(base, json=configmap("dependent", ownerReferences=[reference])).raise_for_status()

    admin.delete(f"{base}/owner").raise_for_status()

    eventually(
        lambda: admin.get(f"{base}/dependent").status_code == 404,
        "garbage collection of the dependent ConfigMap",
    )


def test_rbac_refuses_a_service_account_token_what_it_does_not_grant(
    controlplane: ControlPlane, admin: httpx.Client, namespace: str
) -> None:
    body = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "reader"}}
    admin.post(f"/api/v1/namespaces/{namespace}/serviceaccounts", json=body).raise_for_status()
    token = controlplane.request_token(namespace, "reader")

    with controlplane.client(token) as reader:
        refused = reader.get(f"/api/v1/namespaces/{namespace}/secrets")

    assert refused.status_code == 403
    assert f"system:serviceaccount:{namespace}:reader" in refused.json()["message"]


def test_rbac_grants_a_service_account_what_a_role_allows(
    controlplane: ControlPlane, admin: httpx.Client, namespace: str
) -> None:
    body = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "reader"}}
    admin.post(f"/api/v1/namespaces/{namespace}/serviceaccounts", json=body).raise_for_status()
    grant_configmap_reads(admin, namespace, "reader")
    token = controlplane.request_token(namespace, "reader")

    with controlplane.client(token) as reader:
        eventually(
            lambda: reader.get(f"/api/v1/namespaces/{namespace}/configmaps").status_code == 200,
            "the RoleBinding taking effect",
        )
        assert reader.get(f"/api/v1/namespaces/{namespace}/secrets").status_code == 403


def grant_configmap_reads(admin: httpx.Client, namespace: str, service_account: str) -> None:
    rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}"
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "configmap-reader"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "configmap-reader"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": "configmap-reader",
        },
        "subjects": [{"kind": "ServiceAccount", "name": service_account, "namespace": namespace}],
    }
    admin.post(f"{rbac}/roles", json=role).raise_for_status()
    admin.post(f"{rbac}/rolebindings", json=binding).raise_for_status()


def test_service_account_kubeconfig_authenticates_as_the_account(
    controlplane: ControlPlane, admin: httpx.Client, namespace: str, tmp_path: Path
) -> None:
    body = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "operator"}}
    admin.post(f"/api/v1/namespaces/{namespace}/serviceaccounts", json=body).raise_for_status()
    kubeconfig = controlplane.service_account_kubeconfig(
        namespace, "operator", tmp_path / "operator.kubeconfig"
    )

    whoami = json.loads(
        kubectl(controlplane, "auth", "whoami", "-o", "json", kubeconfig=kubeconfig)
    )

    assert whoami["status"]["userInfo"]["username"] == (
        f"system:serviceaccount:{namespace}:operator"
    )


def test_a_new_namespace_gets_its_service_account_and_root_ca(
    controlplane: ControlPlane, admin: httpx.Client, namespace: str
) -> None:
    # kube-controller-manager's serviceaccount and root-ca-cert-publisher controllers.
    account = f"/api/v1/namespaces/{namespace}/serviceaccounts/default"
    root_ca = f"/api/v1/namespaces/{namespace}/configmaps/kube-root-ca.crt"
    eventually(lambda: admin.get(account).status_code == 200, "the default ServiceAccount")
    eventually(lambda: admin.get(root_ca).status_code == 200, "the kube-root-ca.crt ConfigMap")

    published = admin.get(root_ca).json()["data"]["ca.crt"]
    assert published == controlplane.ca_file.read_text()
