"""The operator as the Helm chart deploys it (cluster-wide mode), on a real kube-apiserver with
kube-controller-manager: every example Flow reconciled under the chart's RBAC; updates,
removed fields, trigger changes, suspend; garbage collection; long names; HPA and KEDA scaling;
health as GitOps tools read it, with the test playing the kubelet.

Each test uses namespaces of its own; one operator process serves the module. Each defect the
real server exposed was first an xfail(strict=True) test here; all are fixed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.kube.operator_harness import (
    BY_TRIGGER,
    RUNNER_KINDS,
    Api,
    Installation,
    Kubelet,
    OperatorProcess,
    assert_kstatus,
    assert_owned,
    audited_calls,
    child,
    condition,
    eventually,
    flow,
    has_condition,
    newest_replica_set,
    provide_secrets,
    reconciled,
    running_operator,
    secret,
    secret_ref,
    template_checksum,
)

# Seconds each, on a quiet machine; the deadlines are for a loaded one.
pytestmark = pytest.mark.timeout(300)
RELEASE = "weir-cluster"
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*/flow.yaml"))
Wait = Callable[..., Any]


@pytest.fixture(scope="module")
def operator(installation: Installation) -> Iterator[OperatorProcess]:
    assert installation.container["command"][:3] == ["weir", "operator", "--all-namespaces"]
    with running_operator(installation) as process:
        yield process


@pytest.fixture
def wait(operator: OperatorProcess) -> Wait:
    """``eventually`` that shows the operator's log when the deadline passes."""

    def waiting(check: Callable[[], Any], what: str, deadline: float = 60.0) -> Any:
        return eventually(check, what, deadline, explain=operator.tail)

    return waiting


@pytest.fixture
def namespace(api: Api, operator: OperatorProcess) -> Iterator[str]:
    name = api.new_namespace("flows")
    yield name
    api.delete("Namespace", None, name)


def create_flow(api: Api, namespace: str, document: dict[str, Any]) -> dict[str, Any]:
    created: dict[str, Any] = api.create(document, namespace)
    return created


# Every example, under the chart's RBAC.


@pytest.fixture(scope="module")
def examples(
    api: Api, operator: OperatorProcess
) -> Iterator[dict[str, tuple[str, dict[str, Any]]]]:
    """Every example Flow, with FlowSecretRefs and Secrets of dummy values, each in a namespace
    of its own, created at once so that the operator reconciles them side by side."""
    created: dict[str, tuple[str, dict[str, Any]]] = {}
    for path in EXAMPLES:
        (document,) = [d for d in yaml.safe_load_all(path.read_text()) if d]
        namespace = api.new_namespace(f"ex-{path.parent.name}"[:40])
        provide_secrets(api, namespace, document)
        created[path.parent.name] = (namespace, create_flow(api, namespace, document))
    yield created
    for namespace, _ in created.values():
        api.delete("Namespace", None, namespace)


@pytest.mark.parametrize("example", [p.parent.name for p in EXAMPLES])
def test_every_example_flow_is_reconciled_into_its_runner(
    api: Api, examples: dict[str, tuple[str, dict[str, Any]]], wait: Wait, example: str
) -> None:
    namespace, created = examples[example]
    name = created["metadata"]["name"]
    trigger = next(iter(created["spec"]["trigger"]))
    found = wait(reconciled(api, namespace, name), f"{example}: status")
    assert condition(found, "Valid")["status"] == "True", found["status"]
    assert condition(found, "Stalled")["status"] == "False", found["status"]
    if created["spec"].get("secrets"):
        assert condition(found, "SecretsResolved")["status"] == "True", found["status"]
    assert found["status"]["trigger"] == trigger
    assert_kstatus(found)
    for kind in BY_TRIGGER[trigger]:
        obj = wait(lambda kind=kind: child(api, namespace, kind, name), f"{example}: {kind}")
        assert_owned(obj, created)
    for kind in set(RUNNER_KINDS) - set(BY_TRIGGER[trigger]):
        assert child(api, namespace, kind, name) is None, kind
    if "Deployment" in BY_TRIGGER[trigger]:
        # The real ReplicaSet controller got the runner Pod admitted; no kubelet runs it.
        wait(lambda: Kubelet(api, namespace).pods(name), f"{example}: a runner Pod")
        assert condition(found, "Ready")["status"] == "False"
        assert condition(found, "Reconciling")["status"] == "True"
    else:
        assert condition(found, "Ready")["status"] == "True", found["status"]


# Updates.


def test_a_spec_change_rolls_the_runner_out(api: Api, namespace: str, wait: Wait) -> None:
    create_flow(api, namespace, flow("orders"))
    first = wait(lambda: child(api, namespace, "Deployment", "orders"), "the Deployment")
    wait(lambda: newest_replica_set(api, namespace, "weir-orders"), "the first ReplicaSet")

    api.patch("Flow", namespace, "orders", {"spec": {"timeout": "10s"}})

    def rolled() -> Any:
        found = child(api, namespace, "Deployment", "orders")
        return found if template_checksum(found) != template_checksum(first) else None

    second = wait(rolled, "a new flow checksum in the pod template")
    assert second["metadata"]["generation"] == first["metadata"]["generation"] + 1
    replica_set = wait(
        lambda: (
            (rs := newest_replica_set(api, namespace, "weir-orders"))
            and rs["spec"]["template"]["metadata"]["annotations"]["weir.dev/flow-checksum"]
            == template_checksum(second)
            and rs
        ),
        "a ReplicaSet of the new template",
    )
    assert replica_set["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    config_map = child(api, namespace, "ConfigMap", "orders")
    assert "timeout: 10s" in config_map["data"]["flow.yaml"]
    found = wait(reconciled(api, namespace, "orders"), "status of generation 2")
    assert found["status"]["observedGeneration"] == 2


def env_of(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value") for e in container["env"]}


def test_a_removed_env_entry_disappears_from_the_deployment(
    api: Api, namespace: str, wait: Wait
) -> None:
    create_flow(api, namespace, flow("orders", runner={"env": {"KEEP": "1", "DROP": "2"}}))
    wait(
        lambda: (
            "DROP" in env_of(child(api, namespace, "Deployment", "orders") or {"spec": None})
            if child(api, namespace, "Deployment", "orders")
            else None
        ),
        "the Deployment with both variables",
    )
    api.patch("Flow", namespace, "orders", {"spec": {"runner": {"env": {"DROP": None}}}})
    wait(reconciled(api, namespace, "orders"), "status of generation 2")
    env = env_of(child(api, namespace, "Deployment", "orders"))
    assert env["KEEP"] == "1" and "DROP" not in env


def test_a_removed_starting_deadline_disappears_from_the_cron_job(
    api: Api, namespace: str, wait: Wait
) -> None:
    cron = {"cron": {"schedule": "0 3 * * *", "startingDeadline": "5m"}}
    create_flow(api, namespace, flow("nightly", trigger=cron))
    first = wait(lambda: child(api, namespace, "CronJob", "nightly"), "the CronJob")
    assert first["spec"]["startingDeadlineSeconds"] == 300
    api.patch(
        "Flow", namespace, "nightly", {"spec": {"trigger": {"cron": {"startingDeadline": None}}}}
    )
    wait(reconciled(api, namespace, "nightly"), "status of generation 2")
    wait(
        lambda: (
            template_checksum(child(api, namespace, "CronJob", "nightly")["spec"]["jobTemplate"])
            != template_checksum(first["spec"]["jobTemplate"])
        ),
        "the CronJob's new flow checksum",
    )
    assert "startingDeadlineSeconds" not in child(api, namespace, "CronJob", "nightly")["spec"]


def test_removing_scaling_removes_the_hpa(api: Api, namespace: str, wait: Wait) -> None:
    scaling = {"minReplicas": 2, "maxReplicas": 4, "cpuUtilization": 70}
    create_flow(api, namespace, flow("orders", scaling=scaling))
    wait(lambda: child(api, namespace, "HorizontalPodAutoscaler", "orders"), "the HPA")
    api.patch("Flow", namespace, "orders", {"spec": {"scaling": None}})
    wait(
        lambda: child(api, namespace, "HorizontalPodAutoscaler", "orders") is None,
        "the HPA removed",
    )
    wait(reconciled(api, namespace, "orders"), "status of generation 2")
    assert child(api, namespace, "Deployment", "orders")["spec"]["replicas"] == 1


def test_a_trigger_changed_from_rest_to_cron_leaves_no_deployment_or_service(
    api: Api, namespace: str, wait: Wait
) -> None:
    scaling = {"minReplicas": 1, "maxReplicas": 3, "cpuUtilization": 70}
    created = create_flow(api, namespace, flow("orders", scaling=scaling))
    for kind in ("Deployment", "Service", "HorizontalPodAutoscaler"):
        wait(lambda kind=kind: child(api, namespace, kind, "orders"), kind)
    wait(lambda: Kubelet(api, namespace).pods("orders"), "the runner Pod")

    api.patch(
        "Flow", namespace, "orders",
        {"spec": {"trigger": {"rest": None, "cron": {"schedule": "0 3 * * *"}}}},
    )  # fmt: skip
    cron_job = wait(lambda: child(api, namespace, "CronJob", "orders"), "the CronJob")
    assert_owned(cron_job, created)
    for kind in ("Deployment", "Service", "HorizontalPodAutoscaler"):
        wait(lambda kind=kind: child(api, namespace, kind, "orders") is None, f"{kind} removed")
    # What the Deployment had (ReplicaSet, Pods) goes with it, collected by the controllers.
    wait(lambda: not api.items("ReplicaSet", namespace), "the ReplicaSet collected")
    wait(lambda: not Kubelet(api, namespace).pods("orders"), "the runner Pods collected")
    found = wait(has_condition(api, namespace, "orders", "Ready", "True"), "Ready as a cron flow")
    assert found["status"]["trigger"] == "cron"


def test_the_status_of_a_flow_changed_to_cron_has_no_replicas(
    api: Api, namespace: str, wait: Wait
) -> None:
    create_flow(api, namespace, flow("orders"))
    wait(lambda: (reconciled(api, namespace, "orders")() or {}).get("status", {}).get("replicas"),
         "status.replicas")  # fmt: skip
    api.patch(
        "Flow", namespace, "orders",
        {"spec": {"trigger": {"rest": None, "cron": {"schedule": "0 3 * * *"}}}},
    )  # fmt: skip
    found = wait(has_condition(api, namespace, "orders", "Ready", "True"), "Ready as a cron flow")
    assert "replicas" not in found["status"], found["status"]


def test_suspend_and_resume(api: Api, namespace: str, wait: Wait) -> None:
    create_flow(api, namespace, flow("orders", suspend=True))
    create_flow(api, namespace, flow("nightly", {"cron": {"schedule": "0 3 * * *"}}, suspend=True))
    found = wait(has_condition(api, namespace, "orders", "Ready", "True", "Suspended"), "suspended")
    assert found["status"]["phase"] == "Suspended"
    assert child(api, namespace, "Deployment", "orders")["spec"]["replicas"] == 0
    wait(has_condition(api, namespace, "nightly", "Ready", "True", "Suspended"), "cron suspended")
    assert child(api, namespace, "CronJob", "nightly")["spec"]["suspend"] is True

    for name in ("orders", "nightly"):
        api.patch("Flow", namespace, name, {"spec": {"suspend": False}})
    wait(
        lambda: child(api, namespace, "Deployment", "orders")["spec"]["replicas"] == 1,
        "one replica again",
    )
    wait(lambda: Kubelet(api, namespace).pods("orders"), "a runner Pod")
    wait(
        lambda: child(api, namespace, "CronJob", "nightly")["spec"]["suspend"] is False,
        "the CronJob resumed",
    )
    found = wait(has_condition(api, namespace, "nightly", "Ready", "True", "Scheduled"), "resumed")
    assert found["status"]["phase"] == "Ready"


def test_a_port_added_to_the_runners_service_does_not_make_the_operator_write_each_time(
    api: Api, namespace: str, installation: Installation, wait: Wait
) -> None:
    create_flow(api, namespace, flow("orders"))
    service = wait(lambda: child(api, namespace, "Service", "orders"), "the Service")
    extra = {"name": "debug", "port": 81, "targetPort": 81, "protocol": "TCP"}
    api.patch(
        "Service", namespace, "weir-orders", {"spec": {"ports": [*service["spec"]["ports"], extra]}}
    )
    for timeout in ("10s", "20s", "30s"):  # three reconciles that leave the Service as it is
        api.patch("Flow", namespace, "orders", {"spec": {"timeout": timeout}})
        wait(reconciled(api, namespace, "orders"), f"the Flow reconciled with timeout {timeout}")
    writes = [
        e["stageTimestamp"]
        for e in audited_calls(installation.plane, installation.username)
        if e["verb"] == "patch"
        and e["objectRef"].get("resource") == "services"
        and e["objectRef"].get("namespace") == namespace
    ]
    assert len(writes) <= 2, f"{len(writes)} applies of an unchanged Service: {writes}"


# Deletion.


def test_flows_and_flowsecretrefs_carry_no_finalizer(api: Api, namespace: str, wait: Wait) -> None:
    provide_secrets(api, namespace, flow_with_secret("orders"))
    create_flow(api, namespace, flow_with_secret("orders"))
    found = wait(reconciled(api, namespace, "orders"), "the Flow reconciled")
    ref = wait(
        lambda: (api.get("FlowSecretRef", namespace, "crm") or {}).get("status") and (
            api.get("FlowSecretRef", namespace, "crm")
        ),
        "the FlowSecretRef's status",
    )  # fmt: skip
    assert not found["metadata"].get("finalizers"), found["metadata"]
    assert not ref["metadata"].get("finalizers"), ref["metadata"]


def test_children_are_collected_after_the_flow_is_deleted_with_the_operator_stopped(
    api: Api, namespace: str, operator: OperatorProcess, wait: Wait
) -> None:
    scaling = {"minReplicas": 1, "maxReplicas": 3, "cpuUtilization": 70}
    create_flow(api, namespace, flow("orders", scaling=scaling))
    create_flow(api, namespace, flow("nightly", {"cron": {"schedule": "0 3 * * *"}}))
    kinds = ["ConfigMap", "ServiceAccount", "Role", "RoleBinding", "Deployment", "Service",
             "HorizontalPodAutoscaler"]  # fmt: skip
    for kind in kinds:
        wait(lambda kind=kind: child(api, namespace, kind, "orders"), kind)
    wait(lambda: child(api, namespace, "CronJob", "nightly"), "the CronJob")
    wait(lambda: Kubelet(api, namespace).pods("orders"), "the runner Pod")

    operator.stop()
    try:
        api.delete("Flow", namespace, "orders")
        api.delete("Flow", namespace, "nightly")
        for name in ("orders", "nightly"):
            wait(
                lambda name=name: api.get("Flow", namespace, name) is None,
                f"Flow {name} gone without the operator",
                deadline=10,
            )
        for kind in kinds:
            wait(
                lambda kind=kind: child(api, namespace, kind, "orders") is None,
                f"{kind} collected by kube-controller-manager",
            )
        wait(lambda: child(api, namespace, "CronJob", "nightly") is None, "the CronJob collected")
        wait(lambda: not Kubelet(api, namespace).pods("orders"), "the runner Pods collected")
    finally:
        operator.start()


def test_deleting_a_flowsecretref_unresolves_the_flows_using_it(
    api: Api, namespace: str, wait: Wait
) -> None:
    secret_ref(api, namespace, "crm", "crm-credentials", ["token"])
    secret(api, namespace, "crm-credentials", {"token": "dummy"})
    auth = {"bearer": {"secret": "crm", "key": "token"}}
    create_flow(
        api,
        namespace,
        flow("orders", {"rest": {"path": "/o", "auth": auth}}, secrets=[{"name": "crm"}]),
    )
    wait(has_condition(api, namespace, "orders", "SecretsResolved", "True"), "secrets resolved")
    api.delete("FlowSecretRef", namespace, "crm")
    wait(lambda: api.get("FlowSecretRef", namespace, "crm") is None, "the FlowSecretRef gone")
    found = wait(
        has_condition(api, namespace, "orders", "SecretsResolved", "False"),
        "SecretsResolved=False",
        deadline=30,
    )
    assert "FlowSecretRef 'crm' not found" in condition(found, "SecretsResolved")["message"]


# Names at the limit.


@pytest.mark.parametrize("trigger", ["rest", "cron"])
def test_a_47_character_flow_name_gets_every_object(
    api: Api, namespace: str, wait: Wait, trigger: str
) -> None:
    name = ("long-" + "x" * 60)[:46] + trigger[0]
    assert len(name) == 47
    spec: dict[str, Any]
    if trigger == "rest":
        spec = {"scaling": {"minReplicas": 1, "maxReplicas": 3, "cpuUtilization": 70}}
        document = flow(name, **spec)
    else:
        document = flow(name, {"cron": {"schedule": "0 3 * * *"}})
    document["metadata"]["annotations"] = {"weir.dev/run": "first"}
    created = create_flow(api, namespace, document)
    kinds = [*BY_TRIGGER[trigger]] + (["HorizontalPodAutoscaler"] if trigger == "rest" else [])
    for kind in kinds:
        obj = wait(lambda kind=kind: child(api, namespace, kind, name), kind)
        assert_owned(obj, created)
    found = wait(
        lambda: (
            (reconciled(api, namespace, name)() or {}).get("status", {}).get("manualRuns")
            and api.get("Flow", namespace, name)
        ),
        "the manual run recorded",
    )
    (run,) = found["status"]["manualRuns"]
    assert run["token"] == "first" and len(run["job"]) == 63
    # The run is a FlowRun of the Flow's (its name is the Job's); the Job is the FlowRun's.
    flowrun = api.get("FlowRun", namespace, run["flowRun"])
    assert flowrun is not None and run["flowRun"] == run["job"]
    assert_owned(flowrun, created)
    job = wait(lambda: api.get("Job", namespace, run["job"]), "the FlowRun's Job")
    (owner,) = job["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"]) == ("FlowRun", flowrun["metadata"]["uid"])
    # The Job controller made its Pod (the Job name is a label value: at most 63).
    wait(lambda: api.items("Pod", namespace, **{"job-name": run["job"]}), "the run's Pod")
    if trigger == "rest":
        wait(lambda: Kubelet(api, namespace).pods(name), "the runner Pod")
    assert_kstatus(found)


# Scaling.


def scale(api: Api, namespace: str, deployment: str, replicas: int) -> None:
    """What the HPA controller (or KEDA's) does: write the scale subresource."""
    api.patch("Deployment", namespace, deployment, {"spec": {"replicas": replicas}}, "scale")


def test_the_operator_keeps_the_replicas_the_hpa_set(api: Api, namespace: str, wait: Wait) -> None:
    scaling = {"minReplicas": 2, "maxReplicas": 5, "cpuUtilization": 70}
    create_flow(api, namespace, flow("orders", scaling=scaling))
    hpa = wait(lambda: child(api, namespace, "HorizontalPodAutoscaler", "orders"), "the HPA")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1", "kind": "Deployment", "name": "weir-orders",
    }  # fmt: skip
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 5)
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 70
    first = wait(lambda: child(api, namespace, "Deployment", "orders"), "the Deployment")

    scale(api, namespace, "weir-orders", 4)
    api.patch("Flow", namespace, "orders", {"spec": {"timeout": "10s"}})
    wait(
        lambda: (
            template_checksum(child(api, namespace, "Deployment", "orders"))
            != template_checksum(first)
        ),
        "the spec change applied",
    )
    wait(reconciled(api, namespace, "orders"), "status of generation 2")
    assert child(api, namespace, "Deployment", "orders")["spec"]["replicas"] == 4


def rabbitmq_flow(name: str, **scaling: Any) -> dict[str, Any]:
    return flow(
        name,
        {"rabbitmq": {"url": {"secret": "amqp", "key": "url"}, "queue": "orders"}},
        secrets=[{"name": "amqp"}],
        scaling=scaling,
    )


def test_a_keda_scaled_object_is_stored_as_rendered(api: Api, namespace: str, wait: Wait) -> None:
    document = rabbitmq_flow("orders", minReplicas=1, maxReplicas=5, queueLength=20)
    provide_secrets(api, namespace, document)
    created = create_flow(api, namespace, document)
    scaled = wait(lambda: child(api, namespace, "ScaledObject", "orders"), "the ScaledObject")
    assert_owned(scaled, created)
    # Stored by a structural schema: a field the published CRD lacks would have been pruned.
    assert scaled["spec"] == {
        "scaleTargetRef": {"name": "weir-orders"},
        "minReplicaCount": 1,
        "maxReplicaCount": 5,
        "triggers": [
            {
                "type": "rabbitmq",
                "metadata": {
                    "mode": "QueueLength",
                    "value": "20",
                    "queueName": "orders",
                    "hostFromEnv": "WEIR_AMQP_URL",
                },
            }
        ],
    }
    deployment = child(api, namespace, "Deployment", "orders")
    assert "WEIR_AMQP_URL" in env_of(deployment)
    assert child(api, namespace, "HorizontalPodAutoscaler", "orders") is None


def test_the_operator_keeps_the_replicas_keda_set(api: Api, namespace: str, wait: Wait) -> None:
    document = rabbitmq_flow("orders", minReplicas=1, maxReplicas=5, queueLength=20)
    provide_secrets(api, namespace, document)
    create_flow(api, namespace, document)
    wait(lambda: child(api, namespace, "ScaledObject", "orders"), "the ScaledObject")
    first = wait(lambda: child(api, namespace, "Deployment", "orders"), "the Deployment")
    scale(api, namespace, "weir-orders", 3)
    api.patch("Flow", namespace, "orders", {"spec": {"timeout": "10s"}})
    wait(
        lambda: (
            template_checksum(child(api, namespace, "Deployment", "orders"))
            != template_checksum(first)
        ),
        "the spec change applied",
    )
    wait(reconciled(api, namespace, "orders"), "status of generation 2")
    assert child(api, namespace, "Deployment", "orders")["spec"]["replicas"] == 3


def test_a_flow_scaled_to_zero_is_ready(api: Api, namespace: str, wait: Wait) -> None:
    document = rabbitmq_flow("orders", minReplicas=0, maxReplicas=5, queueLength=20)
    provide_secrets(api, namespace, document)
    create_flow(api, namespace, document)
    wait(lambda: child(api, namespace, "ScaledObject", "orders"), "the ScaledObject")
    wait(lambda: child(api, namespace, "Deployment", "orders"), "the Deployment")
    scale(api, namespace, "weir-orders", 0)  # what KEDA does while the queue is idle
    found = wait(has_condition(api, namespace, "orders", "Ready", "True"), "Ready=True")
    assert condition(found, "Reconciling")["status"] == "False"
    assert found["status"]["replicas"]["desired"] == 0


# Health, as GitOps tools read it.


def rollout_complete(api: Api, namespace: str, name: str) -> Callable[[], Any]:
    def check() -> Any:
        found = child(api, namespace, "Deployment", name)
        status = (found or {}).get("status") or {}
        want = found["spec"]["replicas"] if found else -1
        done = (
            status.get("observedGeneration") == found["metadata"]["generation"]
            and status.get("updatedReplicas") == want
            and status.get("readyReplicas") == want
            and status.get("availableReplicas") == want
            and status.get("replicas") == want
        ) if found else False  # fmt: skip
        return found if done else None

    return check


def test_ready_once_the_runner_rollout_is_complete(api: Api, namespace: str, wait: Wait) -> None:
    kubelet = Kubelet(api, namespace)
    create_flow(api, namespace, flow("orders"))
    found = wait(has_condition(api, namespace, "orders", "Reconciling", "True"), "Reconciling")
    assert condition(found, "Ready")["status"] == "False"
    assert condition(found, "Stalled")["status"] == "False"
    wait(lambda: kubelet.start_all("orders"), "a runner Pod started by the kubelet")
    wait(rollout_complete(api, namespace, "orders"), "the Deployment controller: complete")
    found = wait(has_condition(api, namespace, "orders", "Ready", "True"), "Ready")
    assert condition(found, "Reconciling")["status"] == "False"
    assert found["status"]["phase"] == "Ready"
    replicas = found["status"]["replicas"]
    assert (replicas["desired"], replicas["ready"]) == (1, 1), replicas
    assert_kstatus(found)


def test_not_ready_while_a_new_generation_rolls_out(api: Api, namespace: str, wait: Wait) -> None:
    kubelet = Kubelet(api, namespace)
    create_flow(api, namespace, flow("orders"))
    wait(lambda: kubelet.start_all("orders"), "a runner Pod started by the kubelet")
    wait(has_condition(api, namespace, "orders", "Ready", "True"), "Ready")

    api.patch("Flow", namespace, "orders", {"spec": {"timeout": "10s"}})
    replica_set = wait(
        lambda: (
            (rs := newest_replica_set(api, namespace, "weir-orders"))
            and rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
            and rs
        ),
        "the new ReplicaSet",
    )
    new_hash = replica_set["metadata"]["labels"]["pod-template-hash"]
    # The new Pod exists but is not started: the rollout of generation 2 is not complete.
    wait(
        lambda: [
            p for p in kubelet.pods("orders")
            if p["metadata"]["labels"].get("pod-template-hash") == new_hash
        ],
        "the new ReplicaSet's Pod",
    )  # fmt: skip
    wait(
        lambda: (d := child(api, namespace, "Deployment", "orders"))["status"].get(
            "observedGeneration"
        ) == d["metadata"]["generation"] and d["status"].get("updatedReplicas") == 1,
        "the Deployment controller saw generation 2",
    )  # fmt: skip
    found = wait(reconciled(api, namespace, "orders"), "status of generation 2")
    during = condition(found, "Ready")["status"], condition(found, "Reconciling")["status"]

    kubelet.start_all("orders", new_hash)
    wait(rollout_complete(api, namespace, "orders"), "rollout of generation 2 complete")
    wait(has_condition(api, namespace, "orders", "Ready", "True"), "Ready after the rollout")
    assert during == ("False", "True"), "Ready during the rollout of generation 2"


def test_a_progress_deadline_exceeded_stalls_the_flow(api: Api, namespace: str, wait: Wait) -> None:
    create_flow(api, namespace, flow("orders"))
    wait(lambda: child(api, namespace, "Deployment", "orders"), "the Deployment")
    # Pods never start (no kubelet); a short deadline lets the Deployment controller give up.
    api.patch("Deployment", namespace, "weir-orders", {"spec": {"progressDeadlineSeconds": 1}})
    wait(
        lambda: condition(child(api, namespace, "Deployment", "orders"), "Progressing").get(
            "reason"
        ) == "ProgressDeadlineExceeded",
        "the Deployment controller: ProgressDeadlineExceeded",
    )  # fmt: skip
    found = wait(has_condition(api, namespace, "orders", "Stalled", "True"), "Stalled", deadline=20)
    assert condition(found, "Ready")["status"] == "False"
    assert condition(found, "Reconciling")["status"] == "False"
    stalled = condition(found, "Stalled")
    assert stalled["reason"] == "ProgressDeadlineExceeded"
    assert "timed out progressing" in stalled["message"], stalled


def flow_with_secret(name: str) -> dict[str, Any]:
    auth = {"bearer": {"secret": "crm", "key": "token"}}
    return flow(name, {"rest": {"path": "/o", "auth": auth}}, secrets=[{"name": "crm"}])


def test_a_flow_waiting_for_its_secret_is_reconciling_with_a_message(
    api: Api, namespace: str, wait: Wait
) -> None:
    secret_ref(api, namespace, "crm", "crm-credentials", ["token"])
    create_flow(api, namespace, flow_with_secret("orders"))
    found = wait(
        has_condition(api, namespace, "orders", "SecretsResolved", "False"), "SecretsResolved"
    )
    message = condition(found, "SecretsResolved")["message"]
    assert "Secret 'crm-credentials' (from FlowSecretRef 'crm') not found" in message
    assert condition(found, "Ready")["status"] == "False"
    assert condition(found, "Reconciling")["status"] == "True", found["status"]["conditions"]
    assert condition(found, "Stalled")["status"] == "False"
    assert "crm-credentials" in condition(found, "Reconciling")["message"]


def test_a_flow_rolls_out_when_its_missing_secret_appears(
    api: Api, namespace: str, wait: Wait
) -> None:
    secret_ref(api, namespace, "crm", "crm-credentials", ["token"])
    create_flow(api, namespace, flow_with_secret("orders"))
    found = wait(
        has_condition(api, namespace, "orders", "SecretsResolved", "False"), "SecretsResolved"
    )
    assert "crm-credentials" in condition(found, "Ready")["message"]
    assert child(api, namespace, "Deployment", "orders") is None
    assert any(
        e["reason"] == "SecretMissing" and e["type"] == "Warning"
        for e in api.events(namespace, "orders")
    ), "a Warning Event for `kubectl describe flow`"

    secret(api, namespace, "crm-credentials", {"token": "s3cr3t"})
    wait(has_condition(api, namespace, "orders", "SecretsResolved", "True"), "resolved")
    deployment = wait(lambda: child(api, namespace, "Deployment", "orders"), "the Deployment")
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    assert {"name": "secret-crm", "secret": {
        "secretName": "crm-credentials", "items": [{"key": "token", "path": "token"}],
        "defaultMode": 420,
    }} in volumes  # fmt: skip

    checksum = deployment["spec"]["template"]["metadata"]["annotations"][
        "weir.dev/secrets-checksum"
    ]
    api.patch("Secret", namespace, "crm-credentials", {"stringData": {"token": "rotated"}})
    wait(
        lambda: child(api, namespace, "Deployment", "orders")["spec"]["template"]["metadata"][
            "annotations"
        ]["weir.dev/secrets-checksum"] != checksum,
        "a new secrets checksum after the Secret changed",
    )  # fmt: skip


def test_an_invalid_flow_is_stalled_with_nothing_applied(
    api: Api, namespace: str, wait: Wait
) -> None:
    broken = flow("orders")
    broken["spec"]["nodes"][0]["next"] = "nowhere"
    create_flow(api, namespace, broken)
    found = wait(has_condition(api, namespace, "orders", "Stalled", "True"), "Stalled")
    assert condition(found, "Valid")["status"] == "False"
    assert "nowhere" in condition(found, "Ready")["message"]
    assert_kstatus(found)
    for kind in RUNNER_KINDS:
        assert child(api, namespace, kind, "orders") is None, kind
    wait(
        lambda: any(e["reason"] == "Invalid" for e in api.events(namespace, "orders")),
        "a Warning Event",
    )


def test_the_operator_log_has_no_tracebacks(operator: OperatorProcess) -> None:
    """Last in the module: whatever the tests above did, nothing crashed a handler."""
    assert operator.process is not None and operator.process.poll() is None, operator.tail()
    tracebacks = [line for line in operator.problems() if "Traceback" in line]
    assert not tracebacks, operator.tail(200)
