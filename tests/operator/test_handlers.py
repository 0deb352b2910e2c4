"""The operator's kopf handlers, run with kopf's KopfRunner against KMock's Kubernetes emulator:
objects created with owner references, rollout checksums on update, invalid flows stalled with
nothing applied, missing secrets, suspend, delete, manual runs, readiness from the Deployment,
and convergence without duplicates through API errors (500, 409, a dropped watch)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from kopf.testing import KopfRunner

import weir.operator.handlers as handlers
from tests.operator.cluster import Cluster, declare, path_of, write_kubeconfig


def flow(
    name: str = "orders", trigger: dict[str, Any] | None = None, **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "weir.dev/v1alpha1",
        "kind": "Flow",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "trigger": trigger or {"rest": {"path": "/orders"}},
            "nodes": [{"name": "answer", "log": {"message": "hi"}}],
            **spec,
        },
    }


@pytest.fixture
async def cluster(
    kmock: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Cluster]:
    declare(kmock)
    monkeypatch.setenv("KUBECONFIG", str(write_kubeconfig(tmp_path / "kubeconfig", str(kmock.url))))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    handlers.STATE.__init__()  # type: ignore[misc]
    async with aiohttp.ClientSession() as session:
        yield Cluster(str(kmock.url), session)


@pytest.fixture
async def operator(cluster: Cluster) -> AsyncIterator[KopfRunner]:
    with KopfRunner(["run", "--all-namespaces", "--standalone"], timeout=60) as runner:
        yield runner
    assert runner.exception is None, runner.output


async def owned(cluster: Cluster, kind: str, name: str = "weir-orders") -> Any:
    return await cluster.get(kind, name)


async def test_a_flow_gets_its_runner_objects_with_owner_references(
    cluster: Cluster, operator: KopfRunner
) -> None:
    created = await cluster.create(flow())
    uid = created["metadata"]["uid"]
    for kind in ("ConfigMap", "ServiceAccount", "Role", "RoleBinding", "Deployment", "Service"):
        obj = await cluster.wait_for(f"{kind} weir-orders", lambda kind=kind: owned(cluster, kind))
        assert obj["metadata"]["ownerReferences"][0]["uid"] == uid
        assert obj["metadata"]["labels"]["weir.dev/flow"] == "orders"
    ready = await cluster.wait_for("Valid condition", lambda: cluster.condition("orders", "Valid"))
    assert ready["status"] == "True"
    status = (await cluster.get("Flow", "orders"))["status"]
    assert status["observedGeneration"] == 1 and status["trigger"] == "rest"
    assert status["target"] == "http://weir-orders.default.svc/orders"


async def test_readiness_follows_the_runner_deployment(
    cluster: Cluster, operator: KopfRunner
) -> None:
    await cluster.create(flow())
    await cluster.wait_for("deployment", lambda: owned(cluster, "Deployment"))
    pending = await cluster.wait_for("Ready condition", lambda: cluster.condition("orders"))
    assert pending["status"] == "False" and pending["reason"] == "Rollout"
    # A ready Pod of an old generation is not enough: the rollout must be complete.
    await cluster.patch(
        "Deployment", "weir-orders", {"status": {"observedGeneration": 0, "readyReplicas": 1}}
    )
    await cluster.patch(
        "Deployment",
        "weir-orders",
        {
            "status": {
                "observedGeneration": 1,
                "replicas": 1,
                "updatedReplicas": 1,
                "readyReplicas": 1,
                "availableReplicas": 1,
            }
        },
    )

    async def ready() -> Any:
        condition = await cluster.condition("orders")
        return condition if condition and condition["status"] == "True" else None

    condition = await cluster.wait_for("Ready=True", ready)
    assert condition["message"] == "1/1 runner replicas available"
    assert (await cluster.get("Flow", "orders"))["status"]["phase"] == "Ready"


async def test_a_spec_change_rolls_out_a_new_checksum(
    cluster: Cluster, operator: KopfRunner
) -> None:
    await cluster.create(flow())
    first = await cluster.wait_for("deployment", lambda: owned(cluster, "Deployment"))
    before = first["spec"]["template"]["metadata"]["annotations"]["weir.dev/flow-checksum"]
    await cluster.patch("Flow", "orders", {"spec": {"timeout": "10s"}})

    async def changed() -> Any:
        deployment = await owned(cluster, "Deployment")
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        return annotations["weir.dev/flow-checksum"] != before

    await cluster.wait_for("a new checksum", changed)

    async def observed() -> Any:
        status = (await cluster.get("Flow", "orders")).get("status") or {}
        return status.get("observedGeneration") == 2

    await cluster.wait_for("observedGeneration 2", observed)


async def test_an_invalid_flow_is_stalled_with_the_reason_and_nothing_applied(
    cluster: Cluster, operator: KopfRunner
) -> None:
    broken = flow()
    broken["spec"]["nodes"][0]["next"] = "nowhere"
    await cluster.create(broken)
    valid = await cluster.wait_for("Valid condition", lambda: cluster.condition("orders", "Valid"))
    assert valid["status"] == "False"
    assert "unknown target node 'nowhere'" in valid["message"]
    stalled = await cluster.condition("orders", "Stalled")
    assert stalled is not None and stalled["status"] == "True"
    assert await cluster.list("ConfigMap") == [] and await cluster.list("Deployment") == []


async def test_a_missing_secret_key_blocks_the_rollout(
    cluster: Cluster, operator: KopfRunner
) -> None:
    await cluster.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "crm-credentials"},
            "data": {"other": "eA=="},
        }
    )
    await cluster.create(
        {
            "apiVersion": "weir.dev/v1alpha1",
            "kind": "FlowSecretRef",
            "metadata": {"name": "crm"},
            "spec": {"secretName": "crm-credentials", "keys": [{"key": "token"}]},
        }
    )
    needs_secret = flow(secrets=[{"name": "crm"}])
    needs_secret["spec"]["trigger"] = {
        "rest": {"path": "/orders", "auth": {"bearer": {"secret": "crm", "key": "token"}}}
    }
    await cluster.create(needs_secret)
    resolved = await cluster.wait_for(
        "SecretsResolved condition", lambda: cluster.condition("orders", "SecretsResolved")
    )
    assert resolved["status"] == "False"
    assert "Secret 'crm-credentials' lacks key 'token' (FlowSecretRef 'crm')" in resolved["message"]
    assert await cluster.list("Deployment") == []

    async def ref_status() -> Any:
        ref = await cluster.get("FlowSecretRef", "crm")
        return (ref.get("status") or {}).get("conditions")

    (ref_condition,) = await cluster.wait_for("FlowSecretRef status", ref_status)
    assert ref_condition["status"] == "False" and "token" in ref_condition["message"]

    await cluster.patch("Secret", "crm-credentials", {"data": {"token": "czNjcjN0"}})

    async def rolled_out() -> Any:
        condition = await cluster.condition("orders", "SecretsResolved")
        return condition if condition and condition["status"] == "True" else None

    await cluster.wait_for("SecretsResolved=True after the Secret got its key", rolled_out)
    deployment = await cluster.wait_for("deployment", lambda: owned(cluster, "Deployment"))
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    assert {
        "name": "secret-crm",
        "secret": {"secretName": "crm-credentials", "items": [{"key": "token", "path": "token"}]},
    } in volumes


async def test_suspend_scales_to_zero_and_resume_scales_back(
    cluster: Cluster, operator: KopfRunner
) -> None:
    await cluster.create(flow(suspend=True))
    deployment = await cluster.wait_for("deployment", lambda: owned(cluster, "Deployment"))
    assert deployment["spec"]["replicas"] == 0
    phase = await cluster.wait_for("Suspended phase", lambda: _phase(cluster) if True else None)
    assert phase == "Suspended"
    await cluster.patch("Flow", "orders", {"spec": {"suspend": False}})

    async def scaled_up() -> Any:
        return (await owned(cluster, "Deployment"))["spec"]["replicas"] == 1

    await cluster.wait_for("one replica", scaled_up)


async def _phase(cluster: Cluster) -> Any:
    return ((await cluster.get("Flow", "orders")) or {}).get("status", {}).get("phase")


async def test_a_cron_flow_becomes_a_cron_job_and_suspends(
    cluster: Cluster, operator: KopfRunner
) -> None:
    await cluster.create(flow(trigger={"cron": {"schedule": "0 3 * * *"}}, suspend=True))
    cron = await cluster.wait_for("cron job", lambda: owned(cluster, "CronJob"))
    assert cron["spec"]["schedule"] == "0 3 * * *" and cron["spec"]["suspend"] is True
    assert await cluster.list("Deployment") == []


async def test_deleting_a_flow_removes_its_objects(cluster: Cluster, operator: KopfRunner) -> None:
    await cluster.create(flow())
    await cluster.wait_for("deployment", lambda: owned(cluster, "Deployment"))
    await cluster.delete("Flow", "orders")

    async def gone() -> Any:
        return not await cluster.list("Deployment") and not await cluster.list("ConfigMap")

    await cluster.wait_for("objects removed", gone)


async def test_a_manual_run_annotation_creates_one_job_per_token(
    cluster: Cluster, operator: KopfRunner
) -> None:
    await cluster.create(flow(trigger={"manual": {}}))
    await cluster.wait_for("config map", lambda: owned(cluster, "ConfigMap"))
    for token in ("first", "first", "second"):
        await cluster.patch(
            "Flow", "orders", {"metadata": {"annotations": {"weir.dev/run": token}}}
        )

        async def recorded(token: str = token) -> Any:
            runs = ((await cluster.get("Flow", "orders")).get("status") or {}).get(
                "manualRuns"
            ) or []
            return [run for run in runs if run["token"] == token]

        await cluster.wait_for(f"run {token}", recorded)
    # A token makes a FlowRun (named after it, carrying it), and the FlowRun its Job.
    flowruns = await cluster.list("FlowRun")
    assert sorted(run["metadata"]["annotations"]["weir.dev/run-token"] for run in flowruns) == [
        "first",
        "second",
    ]

    async def two_jobs() -> Any:
        jobs = await cluster.list("Job")
        return jobs if len(jobs) == 2 else None

    jobs = await cluster.wait_for("two Jobs", two_jobs)
    assert sorted(job["metadata"]["annotations"]["weir.dev/flowrun"] for job in jobs) == sorted(
        run["metadata"]["name"] for run in flowruns
    )


async def test_api_errors_converge_without_duplicates(kmock: Any, cluster: Cluster) -> None:
    kmock["post", "/api/v1/namespaces/default/configmaps"][:1] << 500
    kmock["patch", "/apis/weir.dev/v1alpha1/namespaces/default/flows/orders"][:1] << 409
    kmock["watch", "/apis/weir.dev/v1alpha1/flows"][:1] << b""  # the first watch drops at once
    with KopfRunner(["run", "--all-namespaces", "--standalone"], timeout=60) as runner:
        await cluster.create(flow())
        await cluster.wait_for("deployment", lambda: owned(cluster, "Deployment"), timeout=40)
        await cluster.wait_for(
            "Valid condition", lambda: cluster.condition("orders", "Valid"), timeout=40
        )
    assert runner.exception is None
    assert len(await cluster.list("ConfigMap")) == 1
    assert len(await cluster.list("Deployment")) == 1


def config_map(name: str, namespace: str = "default", **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, **meta},
        "data": {"keep": "me"},
    }


async def test_a_status_written_by_the_runner_cannot_make_the_operator_delete_anything(
    cluster: Cluster, operator: KopfRunner
) -> None:
    """The runner may patch its Flow's status: objects listed there, in other namespaces or
    with path tricks, are never deleted; only objects the Flow owns are."""
    await cluster.create(config_map("victim", "kube-system"))
    await cluster.create(config_map("weir-orders-x"))
    await cluster.create(flow())
    await cluster.wait_for("deployment", lambda: owned(cluster, "Deployment"))
    forged = [
        "v1/ConfigMap/victim",
        "v1/ConfigMap/../../kube-system/configmaps/victim",
        "v1/ConfigMap/weir-orders-x#",
        "v1/ConfigMap/weir-orders-x",
    ]
    await cluster.request(
        "PATCH", path_of("Flow", "default", "orders") + "/status", {"status": {"objects": forged}}
    )
    # A spec change makes the operator reconcile again and remove what it no longer renders.
    await cluster.patch(
        "Flow", "orders", {"spec": {"trigger": {"rest": None, "cron": {"schedule": "0 3 * * *"}}}}
    )

    async def reconciled() -> bool:
        status = (await cluster.get("Flow", "orders")).get("status") or {}
        return status.get("trigger") == "cron" and status.get("objects") != forged

    await cluster.wait_for("the cron flow reconciled", reconciled)
    assert await cluster.get("ConfigMap", "weir-orders-x") is not None
    await cluster.wait_for("deployment gone", lambda: _absent(cluster, "Deployment", "weir-orders"))
    await cluster.delete("Flow", "orders")
    await cluster.wait_for("config map gone", lambda: _absent(cluster, "ConfigMap", "weir-orders"))
    assert await cluster.get("ConfigMap", "victim", "kube-system") is not None
    assert await cluster.get("ConfigMap", "weir-orders-x") is not None


async def test_an_object_with_the_runner_name_but_not_owned_by_the_flow_is_left_alone(
    cluster: Cluster, operator: KopfRunner
) -> None:
    """Someone else's `weir-orders` Service (no owner reference to this Flow) survives a cron
    flow of the same name, which renders no Service, and the Flow's deletion."""
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "weir-orders",
            "namespace": "default",
            "labels": {"weir.dev/flow": "orders", "app.kubernetes.io/managed-by": "weir-operator"},
        },
        "spec": {"ports": [{"port": 80}]},
    }
    await cluster.create(service)
    await cluster.create(flow(trigger={"cron": {"schedule": "0 3 * * *"}}))
    await cluster.wait_for("cron job", lambda: owned(cluster, "CronJob"))
    await cluster.delete("Flow", "orders")
    await cluster.wait_for("cron job gone", lambda: _absent(cluster, "CronJob", "weir-orders"))
    assert await cluster.get("Service", "weir-orders") is not None


async def _absent(cluster: Cluster, kind: str, name: str) -> bool:
    return await cluster.get(kind, name) is None


async def test_an_object_of_the_same_name_that_weir_does_not_own_is_not_taken_over(
    cluster: Cluster, operator: KopfRunner
) -> None:
    await cluster.create(config_map("weir-orders"))
    await cluster.create(flow())
    stalled = await cluster.wait_for("Stalled", lambda: cluster.condition("orders", "Stalled"))
    assert stalled["status"] == "True" and stalled["reason"] == "NameTaken"
    assert "ConfigMap default/weir-orders exists and is not managed by Weir" in stalled["message"]
    kept = await cluster.get("ConfigMap", "weir-orders")
    assert kept["data"] == {"keep": "me"} and "ownerReferences" not in kept["metadata"]
    assert await cluster.get("Deployment", "weir-orders") is None


async def test_a_rotated_secret_rolls_the_runner_out_without_a_secret_watch(
    cluster: Cluster, operator: KopfRunner
) -> None:
    """The operator reads the Secret a FlowSecretRef names by name, now and then: a new value
    changes the pod template's secrets checksum, and only the flows that use it roll."""
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "crm-credentials"}}
    await cluster.create({**secret, "data": {"token": "b2xk"}})
    ref_spec = {"secretName": "crm-credentials", "keys": [{"key": "token"}]}
    ref = {"apiVersion": "weir.dev/v1alpha1", "kind": "FlowSecretRef", "spec": ref_spec}
    await cluster.create({**ref, "metadata": {"name": "crm"}})
    user = flow(secrets=[{"name": "crm"}])
    user["spec"]["trigger"]["rest"]["auth"] = {"bearer": {"secret": "crm", "key": "token"}}
    await cluster.create(user)
    await cluster.create(flow("other"))

    async def checksums() -> tuple[str, str] | None:
        found = []
        for name in ("weir-orders", "weir-other"):
            deployment = await cluster.get("Deployment", name)
            if deployment is None:
                return None
            found.append(deployment["spec"]["template"]["metadata"]["annotations"])
        return found[0]["weir.dev/secrets-checksum"], found[1]["weir.dev/flow-checksum"]

    before = await cluster.wait_for("both runners", checksums)
    await cluster.patch("Secret", "crm-credentials", {"data": {"token": "bmV3"}})

    async def rolled() -> tuple[str, str] | None:
        now = await checksums()
        return now if now and now[0] != before[0] else None

    after = await cluster.wait_for("a new secrets checksum", rolled)
    assert after[1] == before[1]  # the flow that does not use the Secret did not change


async def test_a_manual_run_takes_its_input_from_the_run_input_annotation(
    cluster: Cluster, operator: KopfRunner
) -> None:
    await cluster.create(flow(trigger={"manual": {}}))
    await cluster.wait_for("config map", lambda: owned(cluster, "ConfigMap"))
    runs = [("with-input", '{"name": "Ada"}'), ("broken", "{name: Ada")]
    for token, text in runs:
        annotations = {"weir.dev/run": token, "weir.dev/run-input": text}
        await cluster.patch("Flow", "orders", {"metadata": {"annotations": annotations}})

        async def recorded(token: str = token) -> Any:
            status = (await cluster.get("Flow", "orders")).get("status") or {}
            return [run for run in status.get("manualRuns") or [] if run["token"] == token]

        (record,) = await cluster.wait_for(f"run {token}", recorded)
    assert "weir.dev/run-input is not JSON" in record["error"] and "job" not in record
    # The input goes in the FlowRun's spec; its Job runs `weir flowrun NAME`, which reads it.
    (flowrun,) = await cluster.list("FlowRun")
    assert flowrun["spec"] == {"flowRef": "orders", "input": {"name": "Ada"}}
    (job,) = await cluster.wait_for("the FlowRun's Job", lambda: cluster.list("Job"))
    command = job["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[:3] == ["weir", "flowrun", flowrun["metadata"]["name"]]
