"""The Weir operator as the Helm chart deploys it, run against the real control plane.

* ``install``: the CRDs, then the chart rendered by Helm's engine (helm_python) with the
  RBAC objects it holds — ServiceAccount, ClusterRole/Role and their bindings — applied to the
  apiserver, and a kubeconfig with a TokenRequest token of that ServiceAccount.
* ``OperatorProcess``: the chart Deployment's own command and environment (`weir operator
  --all-namespaces` or `--namespace=X`, WEIR_RUNNER_*), run as a local process with that
  kubeconfig instead of the mounted service-account token: the operator acts with exactly the
  permissions the chart grants it.
* ``Api``: the admin's view of the server, for the tests to create objects and read results.
* ``Kubelet``: there is no kubelet (nor scheduler); the test plays it by writing the status of
  the Pods the real ReplicaSet controller creates, so the real Deployment controller computes
  the Deployment's status (observedGeneration, replicas, conditions) from them.
* ``audited_calls``: what the operator's ServiceAccount did, from the apiserver's audit log.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml

from tests.kube.controlplane import ControlPlane
from tests.servers.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "weir"
KEDA_CRD = Path(__file__).parent / "data" / "keda.sh_scaledobjects.yaml"
DEADLINE = 60.0
FLOWS = "weir.dev/v1alpha1"
T = TypeVar("T")

KINDS: dict[str, tuple[str, str]] = {
    "Namespace": ("v1", "namespaces"),
    "ConfigMap": ("v1", "configmaps"),
    "Secret": ("v1", "secrets"),
    "Service": ("v1", "services"),
    "ServiceAccount": ("v1", "serviceaccounts"),
    "Pod": ("v1", "pods"),
    "Event": ("v1", "events"),
    "Role": ("rbac.authorization.k8s.io/v1", "roles"),
    "RoleBinding": ("rbac.authorization.k8s.io/v1", "rolebindings"),
    "ClusterRole": ("rbac.authorization.k8s.io/v1", "clusterroles"),
    "ClusterRoleBinding": ("rbac.authorization.k8s.io/v1", "clusterrolebindings"),
    "Deployment": ("apps/v1", "deployments"),
    "ReplicaSet": ("apps/v1", "replicasets"),
    "CronJob": ("batch/v1", "cronjobs"),
    "Job": ("batch/v1", "jobs"),
    "HorizontalPodAutoscaler": ("autoscaling/v2", "horizontalpodautoscalers"),
    "ScaledObject": ("keda.sh/v1alpha1", "scaledobjects"),
    "Flow": (FLOWS, "flows"),
    "FlowSecretRef": (FLOWS, "flowsecretrefs"),
    "FlowRun": (FLOWS, "flowruns"),
    "ClusterKopfPeering": ("kopf.dev/v1", "clusterkopfpeerings"),
    "KopfPeering": ("kopf.dev/v1", "kopfpeerings"),
}
RUNNER_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
    "weir.dev/flow",
)


def url(kind: str, namespace: str | None = None, name: str | None = None, sub: str = "") -> str:
    api_version, plural = KINDS[kind]
    base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    path = f"{base}/namespaces/{namespace}/{plural}" if namespace else f"{base}/{plural}"
    path = f"{path}/{name}" if name else path
    return f"{path}/{sub}" if sub else path


def eventually(
    check: Callable[[], T], what: str, deadline: float = DEADLINE, explain: Any = None
) -> T:
    """Poll until ``check()`` is truthy and return it: controllers act asynchronously."""
    end = time.monotonic() + deadline
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            details = explain() if callable(explain) else explain
            pytest.fail(f"{what}: not within {deadline}s\n{details or ''}")
        time.sleep(0.2)


class Api:
    """The admin's requests, answers checked; ``get`` is None for a 404."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        client.timeout = httpx.Timeout(30.0)  # a busy machine slows the apiserver down

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.request(method, path, **kwargs)

    def get(self, kind: str, namespace: str | None, name: str, sub: str = "") -> Any:
        answer = self.client.get(url(kind, namespace, name, sub))
        if answer.status_code == 404:
            return None
        assert answer.status_code == 200, answer.text
        return answer.json()

    def items(self, kind: str, namespace: str | None, **labels: str) -> list[dict[str, Any]]:
        params = {"labelSelector": ",".join(f"{k}={v}" for k, v in labels.items())}
        answer = self.client.get(url(kind, namespace), params=params if labels else None)
        if answer.status_code == 404:  # a kind the server does not serve
            return []
        assert answer.status_code == 200, answer.text
        items: list[dict[str, Any]] = answer.json()["items"]
        return items

    def create(self, obj: dict[str, Any], namespace: str | None = None) -> Any:
        answer = self.client.post(
            url(obj["kind"], namespace), json=obj, params={"fieldValidation": "Strict"}
        )
        assert answer.status_code == 201, answer.text
        return answer.json()

    def patch(
        self, kind: str, namespace: str | None, name: str, body: Any, sub: str = "", *,
        content_type: str = "application/merge-patch+json",
    ) -> Any:  # fmt: skip
        answer = self.client.patch(
            url(kind, namespace, name, sub),
            content=json.dumps(body),
            headers={"Content-Type": content_type},
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    def delete(self, kind: str, namespace: str | None, name: str) -> None:
        answer = self.client.request(
            "DELETE", url(kind, namespace, name), json={"propagationPolicy": "Background"}
        )
        assert answer.status_code in (200, 202, 404), answer.text

    def new_namespace(self, prefix: str) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        self.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        return name

    def events(self, namespace: str, name: str) -> list[dict[str, Any]]:
        answer = self.client.get(
            url("Event", namespace), params={"fieldSelector": f"involvedObject.name={name}"}
        )
        assert answer.status_code == 200, answer.text
        items: list[dict[str, Any]] = answer.json()["items"]
        return items


# The Helm chart.


def render_chart(release: str, namespace: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    """The chart's manifests as `helm install` would send them (Helm's engine, via its SDK)."""
    import helm_python as helm

    with helm.Chart.load(str(CHART)) as chart:
        chart.validate_schema(values)
        manifests = chart.render(values, name=release, namespace=namespace, is_install=True)
    return [
        document
        for path, text in sorted(manifests.items())
        if path.endswith(".yaml")
        for document in yaml.safe_load_all(text)
        if document
    ]


APPLIED_KINDS = (
    "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
    "ClusterKopfPeering", "KopfPeering",
)  # fmt: skip
"""What the tests apply of the chart: its RBAC and the peering objects the operator replicas
elect their leader in; not the Deployment (run as a process instead), Services or the PDB."""
CLUSTER_SCOPED = ("ClusterRole", "ClusterRoleBinding", "ClusterKopfPeering")
Rule = tuple[str, str, str]
"""(API group, resource[/subresource], verb)"""


@dataclass
class Installation:
    """The chart's RBAC on the server and the operator Deployment it would run."""

    plane: ControlPlane
    release: str
    namespace: str
    objects: list[dict[str, Any]]
    kubeconfig: Path
    workdir: Path
    watched: list[str] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        """The operator's objects of a kind (the chart's console has a Deployment and RBAC of
        its own)."""
        return [o for o in self.objects if o["kind"] == kind and not is_console(o)]

    @property
    def container(self) -> dict[str, Any]:
        (deployment,) = self.of_kind("Deployment")
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert isinstance(container, dict)
        return container

    @property
    def service_account(self) -> str:
        (deployment,) = self.of_kind("Deployment")
        name: str = deployment["spec"]["template"]["spec"]["serviceAccountName"]
        return name

    @property
    def username(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"

    def granted(self) -> set[Rule]:
        """Every (group, resource, verb) the chart's ClusterRole and Roles grant."""
        return {
            (group, resource, verb)
            for role in [*self.of_kind("ClusterRole"), *self.of_kind("Role")]
            for rule in role["rules"]
            for group in rule["apiGroups"]
            for resource in rule["resources"]
            for verb in rule["verbs"]
        }


def is_console(obj: dict[str, Any]) -> bool:
    labels = obj["metadata"].get("labels") or {}
    return labels.get("app.kubernetes.io/component") == "console"


def kubectl_apply(plane: ControlPlane, objects: list[dict[str, Any]], path: Path) -> None:
    path.write_text(yaml.safe_dump_all(objects))
    done = plane.kubectl("apply", "--server-side", "--field-manager=helm", "-f", str(path))
    assert done.returncode == 0, done.stderr


def install_crds(plane: ControlPlane) -> None:
    """The chart's CRDs (Flows, FlowSecretRefs, kopf's peerings) and KEDA's ScaledObject."""
    for path in (CHART / "crds", KEDA_CRD):
        done = plane.kubectl("apply", "--server-side", "--field-manager=helm", "-f", str(path))
        assert done.returncode == 0, done.stderr
    waited = plane.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
    assert waited.returncode == 0, waited.stderr


def install(
    plane: ControlPlane, api: Api, workdir: Path, release: str, values: dict[str, Any]
) -> Installation:
    """The chart's RBAC applied as `helm install` would, and a kubeconfig acting as its
    ServiceAccount with a token from the TokenRequest API (what the kubelet mounts)."""
    install_crds(plane)
    namespace = api.new_namespace(release)
    for watched in values.get("watchNamespaces", []):
        api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": watched}})
    objects = render_chart(release, namespace, values)
    applied = [o for o in objects if o["kind"] in APPLIED_KINDS]
    for obj in applied:
        if obj["kind"] not in CLUSTER_SCOPED:
            obj["metadata"].setdefault("namespace", namespace)
    kubectl_apply(plane, applied, workdir / "chart.yaml")
    installation = Installation(
        plane, release, namespace, objects, workdir / "operator.kubeconfig", workdir,
        watched=list(values.get("watchNamespaces", [])),
    )  # fmt: skip
    plane.service_account_kubeconfig(
        namespace, installation.service_account, installation.kubeconfig
    )
    return installation


def uninstall(api: Api, installation: Installation) -> None:
    for obj in installation.objects:  # the operator's and the console's
        if obj["kind"] in CLUSTER_SCOPED:
            api.delete(obj["kind"], None, obj["metadata"]["name"])
    for name in [installation.namespace, *installation.watched]:
        api.delete("Namespace", None, name)


class OperatorProcess:
    """`weir operator` with the chart Deployment's arguments and environment."""

    def __init__(self, installation: Installation) -> None:
        self.installation = installation
        container = installation.container
        command = list(container["command"])
        assert command[:2] == ["weir", "operator"], command
        self.liveness_port = free_port()
        ports = {
            "--liveness-port": self.liveness_port,
            "--metrics-port": free_port(),
        }
        args = []
        for arg in command[2:]:
            flag, _, _value = arg.partition("=")
            args.append(f"{flag}={ports[flag]}" if flag in ports else arg)
        self.args = args
        self.argv = [sys.executable, "-m", "weir.cli", "operator", *args]
        self.env = {
            **{e["name"]: e["value"] for e in container.get("env", [])},
            "PATH": os.environ["PATH"],
            "HOME": str(installation.workdir),
            "KUBECONFIG": str(installation.kubeconfig),
            "PYTHONUNBUFFERED": "1",
            # Not set by the chart: a FlowSecretRef's Secret is read every 3 s instead of 30 s,
            # so that tests of a Secret that appears or changes take seconds.
            "WEIR_SECRET_POLL_INTERVAL": "3",
        }
        # Another version of the operator, e.g. `git archive` of a commit: its directory
        # comes first on sys.path (python -m puts the working directory there).
        self.source = Path(os.environ.get("WEIR_TEST_OPERATOR_SOURCE") or ROOT)
        self.log = installation.workdir / "operator.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.argv, stdout=out, stderr=subprocess.STDOUT, env=self.env, cwd=self.source
            )
        eventually(self.healthy, "the operator's /healthz", explain=self.tail)

    def healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            pytest.fail(f"the operator exited with {self.process.returncode}:\n{self.tail()}")
        with contextlib.suppress(httpx.TransportError):
            answer = httpx.get(f"http://127.0.0.1:{self.liveness_port}/healthz", timeout=2)
            return answer.status_code == 200
        return False

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def tail(self, lines: int = 60) -> str:
        if not self.log.is_file():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def problems(self) -> list[str]:
        """Tracebacks and errors in the operator's log."""
        text = self.log.read_text(errors="replace") if self.log.is_file() else ""
        return [
            line for line in text.splitlines() if "Traceback" in line or " ERROR " in line.upper()
        ]


@contextlib.contextmanager
def running_operator(installation: Installation) -> Iterator[OperatorProcess]:
    operator = OperatorProcess(installation)
    operator.start()
    try:
        yield operator
    finally:
        operator.stop()


# Flows and what they need.

BASE = ["ConfigMap", "ServiceAccount", "Role", "RoleBinding"]
BY_TRIGGER = {
    "manual": BASE,
    "cron": [*BASE, "CronJob"],
    "rest": [*BASE, "Deployment", "Service"],
    "mcp": [*BASE, "Deployment", "Service"],
    "rabbitmq": [*BASE, "Deployment"],
    "files": [*BASE, "Deployment"],
    "mail": [*BASE, "Deployment"],
}
RUNNER_KINDS = [
    "ConfigMap", "ServiceAccount", "Role", "RoleBinding", "Deployment", "Service", "CronJob",
    "HorizontalPodAutoscaler", "ScaledObject",
]  # fmt: skip


def child(api: Api, namespace: str, kind: str, flow_name: str) -> Any:
    return api.get(kind, namespace, f"weir-{flow_name}")


def assert_owned(obj: dict[str, Any], flow_obj: dict[str, Any]) -> None:
    meta, name = obj["metadata"], flow_obj["metadata"]["name"]
    assert meta["ownerReferences"] == [
        {
            "apiVersion": FLOWS,
            "kind": "Flow",
            "name": name,
            "uid": flow_obj["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ], obj["kind"]
    labels = meta.get("labels") or {}
    assert {k: labels.get(k) for k in RUNNER_LABELS} == {
        "app.kubernetes.io/name": "weir-runner",
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/component": "runner",
        "app.kubernetes.io/part-of": "weir",
        "app.kubernetes.io/managed-by": "weir-operator",
        "weir.dev/flow": name,
    }, obj["kind"]


def assert_kstatus(found: dict[str, Any]) -> None:
    status = found["status"]
    assert status["observedGeneration"] == found["metadata"]["generation"]
    for kind in ("Ready", "Reconciling", "Stalled"):
        item = condition(found, kind)
        assert item.get("status") in ("True", "False"), (kind, status)
        assert item.get("reason") and item.get("lastTransitionTime"), item
        assert item.get("observedGeneration") == found["metadata"]["generation"], item
    # kstatus: Ready excludes Reconciling and Stalled.
    if condition(found, "Ready")["status"] == "True":
        assert condition(found, "Reconciling")["status"] == "False"
        assert condition(found, "Stalled")["status"] == "False"


def flow(name: str, trigger: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": FLOWS,
        "kind": "Flow",
        "metadata": {"name": name},
        "spec": {
            "trigger": trigger or {"rest": {"path": f"/{name}"}},
            "nodes": [{"name": "answer", "log": {"message": "hi"}}],
            **spec,
        },
    }


def secret_keys(document: Any) -> dict[str, set[str]]:
    """Logical secret name → the keys a Flow document reads (``{secret: s, key: k}``)."""
    found: dict[str, set[str]] = {}
    if isinstance(document, dict):
        if set(document) == {"secret", "key"}:
            found.setdefault(document["secret"], set()).add(document["key"])
        for value in document.values():
            for secret, keys in secret_keys(value).items():
                found.setdefault(secret, set()).update(keys)
    elif isinstance(document, list):
        for value in document:
            for secret, keys in secret_keys(value).items():
                found.setdefault(secret, set()).update(keys)
    return found


def provide_secrets(api: Api, namespace: str, document: dict[str, Any]) -> None:
    """A FlowSecretRef and a Secret with dummy values for every secret binding of a Flow;
    one that exists already (another Flow's) gets the keys added."""
    used = secret_keys(document["spec"])
    for binding in document["spec"].get("secrets") or []:
        ref = binding.get("flowSecretRef") or binding["name"]
        keys = sorted(used.get(binding["name"], set())) or ["unused"]
        existing = api.get("FlowSecretRef", namespace, ref)
        if existing is None:
            secret_ref(api, namespace, ref, f"{ref}-credentials", keys)
            secret(api, namespace, f"{ref}-credentials", dict.fromkeys(keys, "dummy"))
            continue
        listed = [k["key"] for k in existing["spec"]["keys"]]
        merged = [{"key": k} for k in sorted({*listed, *keys})]
        api.patch("FlowSecretRef", namespace, ref, {"spec": {"keys": merged}})
        secret_name = existing["spec"]["secretName"]
        api.patch("Secret", namespace, secret_name, {"stringData": dict.fromkeys(keys, "dummy")})


def secret_ref(api: Api, namespace: str, name: str, secret_name: str, keys: list[str]) -> None:
    api.create(
        {
            "apiVersion": FLOWS,
            "kind": "FlowSecretRef",
            "metadata": {"name": name},
            "spec": {"secretName": secret_name, "keys": [{"key": k} for k in keys]},
        },
        namespace,
    )


def secret(api: Api, namespace: str, name: str, values: dict[str, str]) -> None:
    api.create(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": values},
        namespace,
    )


def condition(obj: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    for item in ((obj or {}).get("status") or {}).get("conditions") or []:
        if item.get("type") == kind:
            assert isinstance(item, dict)
            return item
    return {}


def reconciled(api: Api, namespace: str, name: str) -> Callable[[], Any]:
    """The Flow once its status describes its current generation."""

    def check() -> Any:
        found = api.get("Flow", namespace, name)
        status = (found or {}).get("status") or {}
        generation = (found or {}).get("metadata", {}).get("generation")
        if status.get("observedGeneration") == generation and status.get("conditions"):
            return found
        return None

    return check


def has_condition(
    api: Api, namespace: str, name: str, kind: str, status: str, reason: str | None = None
) -> Callable[[], Any]:
    def check() -> Any:
        found = reconciled(api, namespace, name)()
        item = condition(found, kind)
        if item.get("status") == status and reason in (None, item.get("reason")):
            return found
        return None

    return check


def template_checksum(deployment: dict[str, Any]) -> str:
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    value: str = annotations["weir.dev/flow-checksum"]
    return value


# Playing the kubelet.


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Kubelet:
    """Marks Pods Running and Ready, as a kubelet whose containers started fine would."""

    def __init__(self, api: Api, namespace: str) -> None:
        self.api = api
        self.namespace = namespace

    def pods(self, flow_name: str) -> list[dict[str, Any]]:
        return [
            pod
            for pod in self.api.items("Pod", self.namespace, **{"weir.dev/flow": flow_name})
            if not pod["metadata"].get("deletionTimestamp")
        ]

    def start(self, pod: dict[str, Any]) -> None:
        now = _now()
        containers = pod["spec"]["containers"]
        status = {
            "phase": "Running",
            "startTime": now,
            "conditions": [
                {"type": kind, "status": "True", "lastTransitionTime": now}
                for kind in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
            ],
            "containerStatuses": [
                {
                    "name": c["name"],
                    "image": c["image"],
                    "imageID": "",
                    "ready": True,
                    "started": True,
                    "restartCount": 0,
                    "state": {"running": {"startedAt": now}},
                }
                for c in containers
            ],
        }
        self.api.patch("Pod", self.namespace, pod["metadata"]["name"], {"status": status}, "status")

    def start_all(self, flow_name: str, template_hash: str | None = None) -> int:
        """Every not yet Ready Pod of the flow (of one ReplicaSet, given its template hash)."""
        started = 0
        for pod in self.pods(flow_name):
            labels = pod["metadata"].get("labels") or {}
            if template_hash and labels.get("pod-template-hash") != template_hash:
                continue
            if condition(pod, "Ready").get("status") != "True":
                self.start(pod)
                started += 1
        return started


def newest_replica_set(api: Api, namespace: str, deployment: str) -> dict[str, Any] | None:
    """The ReplicaSet of the Deployment's current revision."""
    found = api.get("Deployment", namespace, deployment)
    if found is None:
        return None
    revision = (found["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision")
    for replica_set in api.items("ReplicaSet", namespace):
        owners = replica_set["metadata"].get("ownerReferences") or []
        annotations = replica_set["metadata"].get("annotations") or {}
        if (
            any(o["uid"] == found["metadata"]["uid"] for o in owners)
            and revision
            and (annotations.get("deployment.kubernetes.io/revision") == revision)
        ):
            return replica_set
    return None


# The audit log.


def audited_calls(plane: ControlPlane, username: str) -> list[dict[str, Any]]:
    """The audit events of one user's resource requests, in order."""
    events = []
    with plane.audit_log.open() as log:
        for line in log:
            if not line.endswith("\n"):
                break  # the apiserver is still writing this one
            event = json.loads(line)
            if event.get("user", {}).get("username") == username and event.get("objectRef"):
                events.append(event)
    return events


def rule_of(event: dict[str, Any]) -> Rule:
    ref = event["objectRef"]
    resource = ref["resource"] + (f"/{ref['subresource']}" if ref.get("subresource") else "")
    return (ref.get("apiGroup") or "", resource, event["verb"])
