"""The chart's RBAC for the operator, in both of its modes, on a real apiserver: sufficient
(every example Flow reconciled under it, no request refused) and minimal (every rule it grants
is used — seen in the apiserver's audit log, or required by the apiserver's own checks of what
the operator does). In namespaced mode the operator leaves other namespaces alone.

One operator per mode (the module fixture is parametrized): cluster-wide with a ClusterRole,
namespaced with a Role in each watched namespace.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.kube.controlplane import ControlPlane
from tests.kube.operator_harness import (
    BY_TRIGGER,
    Api,
    Installation,
    OperatorProcess,
    Rule,
    assert_kstatus,
    assert_owned,
    audited_calls,
    child,
    condition,
    eventually,
    flow,
    has_condition,
    install,
    provide_secrets,
    reconciled,
    rule_of,
    running_operator,
    uninstall,
)

# Seconds each, on a quiet machine; the deadlines are for a loaded one.
pytestmark = pytest.mark.timeout(300)
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*/flow.yaml"))
HOLD = "weir.test/hold"


@dataclass
class Deployed:
    mode: str
    installation: Installation
    operator: OperatorProcess

    def namespace(self, api: Api, index: int = 0) -> str:
        """A namespace the operator watches: one of the chart's list, or a new one."""
        if self.installation.watched:
            return self.installation.watched[index]
        return api.new_namespace("rbac")

    def wait(self, check: Callable[[], Any], what: str, deadline: float = 60.0) -> Any:
        return eventually(check, f"{self.mode}: {what}", deadline, explain=self.operator.tail)


@pytest.fixture(scope="module", params=["cluster-wide", "namespaced"])
def deployed(
    request: pytest.FixtureRequest,
    controlplane: ControlPlane,
    api: Api,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Deployed]:
    mode: str = request.param
    suffix = uuid.uuid4().hex[:6]
    values: dict[str, Any] = {}
    if mode == "namespaced":
        values["watchNamespaces"] = [f"team-a-{suffix}", f"team-b-{suffix}"]
    release = "weir-cw" if mode == "cluster-wide" else "weir-ns"
    installation = install(controlplane, api, tmp_path_factory.mktemp(release), release, values)
    try:
        with running_operator(installation) as operator:
            yield Deployed(mode, installation, operator)
    finally:
        uninstall(api, installation)


def test_the_chart_runs_the_operator_in_its_mode(deployed: Deployed) -> None:
    installation = deployed.installation
    args = deployed.operator.args
    assert f"--peering={installation.release}-operator" in args
    if deployed.mode == "cluster-wide":
        assert "--all-namespaces" in args
        assert not installation.of_kind("Role")
        assert len(installation.of_kind("ClusterKopfPeering")) == 1
    else:
        assert [a for a in args if a.startswith("--namespace=")] == [
            f"--namespace={n}" for n in installation.watched
        ]
        assert sorted(r["metadata"]["namespace"] for r in installation.of_kind("Role")) == sorted(
            installation.watched
        )
        # kopf's scanning is off with exact namespaces: nothing cluster-wide is granted.
        assert installation.of_kind("ClusterRole") == []


def test_every_example_flow_is_reconciled_under_the_charts_rbac(
    api: Api, deployed: Deployed
) -> None:
    namespace = deployed.namespace(api, 0)
    documents = [next(d for d in yaml.safe_load_all(path.read_text()) if d) for path in EXAMPLES]
    for document in documents:
        provide_secrets(api, namespace, document)
    created = [api.create(document, namespace) for document in documents]
    for flow_obj in created:
        name = flow_obj["metadata"]["name"]
        trigger = next(iter(flow_obj["spec"]["trigger"]))
        found = deployed.wait(reconciled(api, namespace, name), f"{name}: status")
        assert condition(found, "Valid")["status"] == "True", found["status"]
        assert condition(found, "Stalled")["status"] == "False", found["status"]
        assert_kstatus(found)
        for kind in BY_TRIGGER[trigger]:
            obj = deployed.wait(
                lambda kind=kind, name=name: child(api, namespace, kind, name), f"{name}: {kind}"
            )
            assert_owned(obj, flow_obj)


@pytest.mark.parametrize("deployed", ["namespaced"], indirect=True)
def test_a_namespaced_operator_leaves_other_namespaces_alone(api: Api, deployed: Deployed) -> None:
    elsewhere = api.new_namespace("unwatched")
    try:
        api.create(flow("orders"), elsewhere)
        watched = deployed.namespace(api, 1)
        api.create(flow("sentinel"), watched)
        deployed.wait(reconciled(api, watched, "sentinel"), "the watched namespace's Flow")
        assert (api.get("Flow", elsewhere, "orders") or {}).get("status") is None
        assert child(api, elsewhere, "ConfigMap", "orders") is None
        touched = [
            e["requestURI"]
            for e in audited_calls(deployed.installation.plane, deployed.installation.username)
            if e["objectRef"].get("namespace") not in (None, *deployed.installation.watched)
        ]
        assert touched == [], "requests outside the watched namespaces"
    finally:
        api.delete("Namespace", None, elsewhere)


# Minimal: what the operator does with each permission.


def hold(api: Api, namespace: str, kind: str, name: str) -> None:
    """A finalizer of the test's: a deletion leaves the object (terminating) until released."""
    api.patch(kind, namespace, name, {"metadata": {"finalizers": [HOLD]}})


def release(api: Api, namespace: str, kind: str, name: str) -> None:
    if api.get(kind, namespace, name) is not None:
        api.patch(kind, namespace, name, {"metadata": {"finalizers": None}})


def exercise_every_permission(api: Api, deployed: Deployed, namespace: str) -> None:
    """Drive the operator through everything it does: every trigger kind, an HPA and a
    ScaledObject, a manual run (a FlowRun and its Job), a FlowRun past its TTL, an invalid Flow (an Event), drift of every object repaired,
    spec changes, a trigger change and a deleted Flow."""
    wait = deployed.wait
    queue = flow(
        "queue",
        {"rabbitmq": {"url": {"secret": "amqp", "key": "url"}, "queue": "orders"}},
        secrets=[{"name": "amqp"}],
        scaling={"minReplicas": 1, "maxReplicas": 5, "queueLength": 20},
    )
    provide_secrets(api, namespace, queue)
    api.create(queue, namespace)
    api.create(
        flow("svc", scaling={"minReplicas": 1, "maxReplicas": 3, "cpuUtilization": 70}), namespace
    )
    api.create(flow("nightly", {"cron": {"schedule": "0 3 * * *"}}), namespace)
    ondemand = flow("ondemand", {"manual": {}})
    ondemand["metadata"]["annotations"] = {"weir.dev/run": "t1"}
    api.create(ondemand, namespace)
    broken = flow("broken")
    broken["spec"]["nodes"][0]["next"] = "nowhere"
    api.create(broken, namespace)

    wait(lambda: child(api, namespace, "HorizontalPodAutoscaler", "svc"), "the HPA")
    wait(lambda: child(api, namespace, "ScaledObject", "queue"), "the ScaledObject")
    wait(lambda: child(api, namespace, "CronJob", "nightly"), "the CronJob")
    wait(
        lambda: (
            (reconciled(api, namespace, "ondemand")() or {}).get("status", {}).get("manualRuns")
        ),
        "the manual run",
    )
    # The manual run is a FlowRun, and the FlowRun's Job is made (list and watch of Jobs: a
    # Job that fails without its runner reporting fails the run). A finished FlowRun past its
    # TTL is deleted.
    (run,) = reconciled(api, namespace, "ondemand")()["status"]["manualRuns"]
    wait(lambda: api.get("Job", namespace, run["job"]), "the manual run's Job")
    expiring = {
        "apiVersion": "weir.dev/v1alpha1",
        "kind": "FlowRun",
        "metadata": {"name": "expiring"},
        "spec": {"flowRef": "ondemand", "ttlSecondsAfterFinished": 0},
    }
    api.create(expiring, namespace)
    wait(lambda: api.get("Job", namespace, "expiring"), "the FlowRun's Job")
    finished = {"phase": "Succeeded", "finishedAt": "2026-01-01T00:00:00Z"}
    api.patch("FlowRun", namespace, "expiring", {"status": finished}, "status")
    wait(lambda: api.get("FlowRun", namespace, "expiring") is None, "the expired FlowRun deleted")
    wait(has_condition(api, namespace, "broken", "Stalled", "True"), "the invalid Flow stalled")
    wait(
        lambda: (api.get("FlowSecretRef", namespace, "amqp") or {}).get("status"),
        "the FlowSecretRef's status",
    )

    # Drift of what never changes with the spec, repaired on the next reconcile.
    api.patch("ServiceAccount", namespace, "weir-svc", {"automountServiceAccountToken": False})
    api.patch("Role", namespace, "weir-svc", {"rules": []})
    api.patch("RoleBinding", namespace, "weir-svc", {"subjects": []})
    api.patch("Service", namespace, "weir-svc", {"spec": {"selector": {"weir.dev/flow": "x"}}})
    api.patch("Flow", namespace, "svc", {"spec": {"timeout": "10s", "scaling": {"maxReplicas": 4}}})
    api.patch("Flow", namespace, "queue", {"spec": {"scaling": {"maxReplicas": 6}}})
    api.patch(
        "Flow", namespace, "nightly", {"spec": {"trigger": {"cron": {"schedule": "0 4 * * *"}}}}
    )
    wait(
        lambda: (
            child(api, namespace, "ServiceAccount", "svc").get("automountServiceAccountToken")
            and child(api, namespace, "Role", "svc").get("rules")
            and child(api, namespace, "RoleBinding", "svc").get("subjects")
            and child(api, namespace, "Service", "svc")["spec"]["selector"]["weir.dev/flow"]
            == "svc"
        ),
        "the drift repaired",
    )
    wait(
        lambda: (
            child(api, namespace, "HorizontalPodAutoscaler", "svc")["spec"]["maxReplicas"] == 4
            and child(api, namespace, "ScaledObject", "queue")["spec"]["maxReplicaCount"] == 6
            and child(api, namespace, "CronJob", "nightly")["spec"]["schedule"] == "0 4 * * *"
        ),
        "the spec changes applied",
    )

    # Trigger changes remove the Deployment, Service and HPA, and a CronJob.
    api.patch("Flow", namespace, "nightly", {"spec": {"trigger": {"cron": None, "manual": {}}}})
    api.patch(
        "Flow", namespace, "svc",
        {"spec": {"scaling": None, "trigger": {"rest": None, "cron": {"schedule": "0 3 * * *"}}}},
    )  # fmt: skip
    wait(
        lambda: (
            child(api, namespace, "Deployment", "svc") is None
            and child(api, namespace, "Service", "svc") is None
            and child(api, namespace, "HorizontalPodAutoscaler", "svc") is None
            and child(api, namespace, "CronJob", "nightly") is None
        ),
        "the rest runner and the CronJob removed",
    )

    # A deleted Flow: the operator deletes its runner itself, as the garbage collector does.
    # Held by a finalizer of the test's, every object is still there when the operator looks,
    # whoever comes first; the operator's own DELETE shows in the audit log.
    kinds = ["ConfigMap", "ServiceAccount", "Role", "RoleBinding", "Deployment", "ScaledObject"]
    for kind in kinds:
        hold(api, namespace, kind, "weir-queue")
    api.delete("Flow", namespace, "queue")
    user = deployed.installation.username

    def deleted_by_operator(kind: str) -> bool:
        plural = {"ScaledObject": "scaledobjects"}.get(kind, kind.lower() + "s")
        return any(
            e["verb"] == "delete" and e["objectRef"].get("resource") == plural
            and e["objectRef"].get("name") == "weir-queue"
            and e["objectRef"].get("namespace") == namespace
            for e in audited_calls(deployed.installation.plane, user)
        )  # fmt: skip

    try:
        for kind in kinds:
            wait(lambda kind=kind: deleted_by_operator(kind), f"the operator deleted {kind}")
    finally:
        for kind in kinds:
            release(api, namespace, kind, "weir-queue")


def implied_rules(api: Api, events: list[dict[str, Any]], namespace: str) -> set[Rule]:
    """What the apiserver checks beyond the verb of a request:
    * a server-side apply that creates an object (PATCH answered 201) needs `create` too;
    * creating an object whose owner reference sets blockOwnerDeletion needs `update` on the
      owner's finalizers (OwnerReferencesPermissionEnforcement, on in this control plane);
    * a Role may grant only what its creator holds (RBAC's escalation check): the operator
      holds what its runners' Roles grant."""
    implied: set[Rule] = set()
    for event in events:
        group, resource, verb = rule_of(event)
        code = event.get("responseStatus", {}).get("code")
        if verb in ("patch", "create") and code == 201:
            implied.add((group, resource, "create"))
            # Runner objects carry the Flow owner reference, FlowRuns' Jobs their FlowRun's.
            if resource == "jobs":
                implied.add(("weir.dev", "flowruns/finalizers", "update"))
            elif resource != "events":
                implied.add(("weir.dev", "flows/finalizers", "update"))
    for role in api.items("Role", namespace, **{"app.kubernetes.io/managed-by": "weir-operator"}):
        for rule in role["rules"]:
            implied |= {
                (group, resource, verb)
                for group in rule["apiGroups"]
                for resource in rule["resources"]
                for verb in rule["verbs"]
            }
    return implied


def test_every_permission_the_chart_grants_is_used(api: Api, deployed: Deployed) -> None:
    namespace = deployed.namespace(api, 1)
    exercise_every_permission(api, deployed, namespace)
    installation = deployed.installation
    events = [
        e
        for e in audited_calls(installation.plane, installation.username)
        if e["objectRef"].get("namespace") in (None, namespace)
    ]
    used = {rule_of(e) for e in events} | implied_rules(api, events, namespace)
    unused = sorted(installation.granted() - used)
    assert unused == [], f"granted by the chart, never used by the operator: {unused}"


def test_no_request_of_the_operator_was_refused(
    deployed: Deployed, request: pytest.FixtureRequest
) -> None:
    """Last for each mode: whatever the tests above made it do, RBAC allowed it."""
    installation = deployed.installation
    refused = [
        f"{e['verb']} {e['requestURI']}: {e['responseStatus'].get('message')}"
        for e in audited_calls(installation.plane, installation.username)
        # Refused by RBAC; not e.g. an Event for a namespace being deleted (admission).
        if e.get("annotations", {}).get("authorization.k8s.io/decision") == "forbid"
    ]
    assert refused == []
    tracebacks = [line for line in deployed.operator.problems() if "Traceback" in line]
    assert not tracebacks, deployed.operator.tail(200)
