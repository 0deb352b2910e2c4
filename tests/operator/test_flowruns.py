"""FlowRuns: the CRD, the Job rendered from the Flow's runner pod, the status a run's outcome
maps to, and the operator's handlers (KMock's emulator): a run waiting for its Flow, a Job that
failed without its runner reporting, a finished run deleted after its TTL."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from kopf.testing import KopfRunner

from tests.operator.cluster import Cluster
from tests.operator.test_handlers import cluster, flow  # noqa: F401 - the fixture
from tests.operator.test_render import compiled, validate_all
from weir.flow.flowrun import MAX_RESULT, FlowRunInvalid, parse_spec
from weir.flow.flowrun_status import (
    bounded_result,
    expiry,
    job_outcome,
    outcome_status,
    phase_status,
)
from weir.lang.times import iso
from weir.operator.crds import render_crds
from weir.operator.render import Owner, RenderInput, render_flowrun_job
from weir.operator.settings import RenderSettings

ROOT = Path(__file__).parents[2]


def crd() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(render_crds()["flowruns.weir.dev.yaml"])
    return loaded


# The CRD.


def test_the_crd_has_the_short_name_printer_columns_and_status_subresource() -> None:
    spec = crd()["spec"]
    assert spec["names"]["shortNames"] == ["fr"] and spec["scope"] == "Namespaced"
    version = spec["versions"][0]
    names = [c["name"] for c in version["additionalPrinterColumns"]]
    assert names[:4] == ["Flow", "Phase", "Execution", "Age"]
    assert version["subresources"] == {"status": {}}
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
    phases = ["Pending", "Running", "Waiting", "Succeeded", "Failed", "Cancelled"]
    assert status["phase"]["enum"] == phases


def test_the_example_flowrun_satisfies_the_schema_and_a_bad_one_does_not() -> None:
    schema = crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    example = yaml.safe_load((ROOT / "examples" / "flowrun" / "flowrun.yaml").read_text())
    jsonschema.validate(example, schema)
    with pytest.raises(jsonschema.ValidationError, match="flowRef"):
        jsonschema.validate({"spec": {"input": {}}}, schema)
    with pytest.raises(jsonschema.ValidationError, match="does not match"):
        jsonschema.validate({"spec": {"flowRef": "Not_A_Name"}}, schema)


def test_a_spec_is_parsed_with_its_defaults_and_refused_naming_the_field() -> None:
    spec = parse_spec({"flowRef": "orders", "input": [1, 2]}, "r1")
    assert spec.input == [1, 2] and spec.ttlSecondsAfterFinished == 3600
    with pytest.raises(FlowRunInvalid, match=r"FlowRun r1: spec.from needs spec.replayOf"):
        parse_spec({"flowRef": "orders", "from": "b"}, "r1")
    with pytest.raises(FlowRunInvalid, match=r"spec.ttlSecondsAfterFinished"):
        parse_spec({"flowRef": "orders", "ttlSecondsAfterFinished": -1}, "r1")
    with pytest.raises(FlowRunInvalid, match=r"spec.flowRef: Field required"):
        parse_spec({}, "r1")


# The Job.


def job_for(flowrun: str, **settings: Any) -> dict[str, Any]:
    data = RenderInput(compiled("manual"), "shop", RenderSettings(**settings))
    return render_flowrun_job(data, Owner(flowrun, "uid-7", kind="FlowRun"))


def test_the_job_runs_weir_flowrun_in_the_runner_pod_owned_by_the_flowrun() -> None:
    job = job_for("orders-1a2b3c4d", console_url="http://weir-console.weir-system.svc:8090")
    validate_all([job])
    assert job["metadata"]["name"] == "orders-1a2b3c4d"
    assert job["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "weir.dev/v1alpha1",
            "kind": "FlowRun",
            "name": "orders-1a2b3c4d",
            "uid": "uid-7",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert job["spec"]["backoffLimit"] == 0
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["serviceAccountName"] == "weir-orders"
    (container,) = pod["containers"]
    assert container["command"] == [
        "weir", "flowrun", "orders-1a2b3c4d", "--file", "/etc/weir/flow/flow.yaml", "--quiet",
    ]  # fmt: skip
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["WEIR_CONSOLE_URL"] == "http://weir-console.weir-system.svc:8090"
    assert "WEIR_NAMESPACE" in env and "ports" not in container


def test_a_flowrun_name_that_cannot_name_a_job_gets_a_derived_one() -> None:
    long_name = "a" * 70
    dotted = "orders.run.1"
    for name in (long_name, dotted):
        job = job_for(name)
        assert job["metadata"]["name"].startswith("weir-orders-run-")
        assert len(job["metadata"]["name"]) <= 63
    assert job_for(long_name)["metadata"]["name"] != job_for(dotted)["metadata"]["name"]
    assert "WEIR_CONSOLE_URL" not in json.dumps(job_for(dotted))


def test_runners_may_read_flowruns_and_write_their_status() -> None:
    data = RenderInput(compiled("manual"), "shop", RenderSettings())
    from weir.operator.render import render

    (role,) = [obj for obj in render(data) if obj["kind"] == "Role"]
    rules = {(tuple(r["resources"]), tuple(r["verbs"])) for r in role["rules"]}
    assert (("flowruns",), ("get",)) in rules and (("flowruns/status",), ("patch",)) in rules


# The status.


def test_a_succeeded_execution_maps_to_succeeded_with_its_result() -> None:
    status = outcome_status("ex1", "succeeded", 100.0, 101.5, {"total": 3}, None)
    assert status["phase"] == "Succeeded" and status["executionId"] == "ex1"
    assert status["result"] == {"total": 3} and status["resultTruncated"] is None
    assert status["startedAt"] == iso(100.0) == "1970-01-01T00:01:40Z"
    assert status["error"] is None  # a merge patch: clears what an earlier write left
    (condition,) = status["conditions"]
    assert condition["type"] == "Succeeded" and condition["status"] == "True"


def test_a_failed_execution_maps_to_failed_with_the_error_and_its_node() -> None:
    error = {"type": "http", "message": "503 from crm", "node": "push", "retryable": True}
    status = outcome_status("ex2", "failed", 1.0, 2.0, None, error)
    assert status["phase"] == "Failed"
    assert status["error"] == {"type": "http", "message": "503 from crm", "node": "push"}
    (condition,) = status["conditions"]
    assert condition["status"] == "False" and "node push: 503 from crm" in condition["message"]
    assert outcome_status("ex3", "cancelled", 1.0, 2.0, None, None)["phase"] == "Cancelled"
    interrupted = outcome_status("ex4", "interrupted", 1.0, 2.0, None, None)
    assert interrupted["phase"] == "Failed" and interrupted["error"]["type"] == "interrupted"


def test_a_result_larger_than_16_kib_is_left_out_and_flagged() -> None:
    fits = "x" * (MAX_RESULT - 2)  # its JSON has two quotes
    assert bounded_result(fits) == {"result": fits, "resultTruncated": None}
    assert bounded_result(fits + "x") == {"result": None, "resultTruncated": True}


def job(*conditions: tuple[str, str]) -> dict[str, Any]:
    return {
        "metadata": {"name": "run-1"},
        "status": {
            "conditions": [
                {"type": t, "status": "True", "reason": "BackoffLimitExceeded", "message": m}
                for t, m in conditions
            ]
        },
    }


def test_a_job_that_ended_without_a_report_fails_the_run() -> None:
    assert job_outcome(job()) is None
    failed = job_outcome(job(("Failed", "Job has reached the specified backoff limit")))
    assert failed is not None and failed["phase"] == "Failed"
    assert failed["error"] == {
        "type": "JobFailed",
        "message": "Job run-1: Job has reached the specified backoff limit",
    }
    complete = job_outcome(job(("Complete", "")))
    assert complete is not None and complete["error"]["type"] == "NotReported"


def test_a_finished_run_expires_its_ttl_after_it_finished() -> None:
    running = {"status": phase_status("Running", "Running")}
    assert expiry(running, 60) is None
    finished = {"status": outcome_status("e", "succeeded", 10.0, 20.0, None, None)}
    assert expiry(finished, 60) == 80.0


# The handlers.


@pytest.fixture
async def operator(cluster: Cluster) -> AsyncIterator[KopfRunner]:  # noqa: F811
    with KopfRunner(["run", "--all-namespaces", "--standalone"], timeout=60) as runner:
        yield runner
    assert runner.exception is None, runner.output


def flowrun(name: str = "run-1", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "weir.dev/v1alpha1",
        "kind": "FlowRun",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"flowRef": "orders", **spec},
    }


async def status_of(emulated: Cluster, name: str = "run-1") -> dict[str, Any]:
    found = await emulated.get("FlowRun", name)
    return dict((found or {}).get("status") or {})


async def test_a_flowrun_waits_for_its_flow_then_gets_its_job(
    cluster: Cluster,  # noqa: F811
    operator: KopfRunner,
) -> None:
    await cluster.create(flowrun(input={"n": 1}))

    async def waiting() -> Any:
        status = await status_of(cluster)
        return status if status.get("phase") == "Pending" else None

    status = await cluster.wait_for("Pending", waiting)
    assert status["conditions"][0]["message"] == "waiting for Flow 'orders' in default"
    assert await cluster.list("Job") == []
    await cluster.create(flow(trigger={"manual": {}}))
    job = await cluster.wait_for("the Job", lambda: cluster.get("Job", "run-1"), timeout=30)
    assert job["metadata"]["ownerReferences"][0]["kind"] == "FlowRun"
    status = await status_of(cluster)
    assert status["phase"] == "Pending" and status["job"] == "run-1"


async def test_a_flowrun_of_an_invalid_flow_fails_naming_it(
    cluster: Cluster,  # noqa: F811
    operator: KopfRunner,
) -> None:
    broken = flow(trigger={"manual": {}})
    broken["spec"]["nodes"][0]["next"] = "nowhere"
    await cluster.create(broken)
    await cluster.create(flowrun())

    async def failed() -> Any:
        status = await status_of(cluster)
        return status if status.get("phase") == "Failed" else None

    status = await cluster.wait_for("Failed", failed)
    assert status["error"]["type"] == "FlowInvalid" and "nowhere" in status["error"]["message"]
    assert await cluster.list("Job") == []


async def test_a_job_that_failed_without_a_report_fails_its_flowrun(
    cluster: Cluster,  # noqa: F811
    operator: KopfRunner,
) -> None:
    await cluster.create(flow(trigger={"manual": {}}))
    await cluster.create(flowrun())
    await cluster.wait_for("the Job", lambda: cluster.get("Job", "run-1"))
    await cluster.patch("Job", "run-1", job(("Failed", "pod was evicted")))

    async def failed() -> Any:
        status = await status_of(cluster)
        return status if status.get("phase") == "Failed" else None

    status = await cluster.wait_for("Failed", failed)
    assert status["error"] == {"type": "JobFailed", "message": "Job run-1: pod was evicted"}


async def test_a_runners_report_is_not_overwritten_by_its_jobs_end(
    cluster: Cluster,  # noqa: F811
    operator: KopfRunner,
) -> None:
    await cluster.create(flow(trigger={"manual": {}}))
    await cluster.create(flowrun(name="run-2"))
    await cluster.wait_for("the Job", lambda: cluster.get("Job", "run-2"))
    now = time.time()
    reported = outcome_status("ex1", "failed", now, now, None, {"message": "boom", "node": "a"})
    await cluster.patch("FlowRun", "run-2", {"status": reported})
    await cluster.patch("Job", "run-2", job(("Failed", "exit code 1")))
    await cluster.wait_for("the Job's event", lambda: cluster.get("Job", "run-2"))
    await asyncio.sleep(0.5)
    status = await status_of(cluster, "run-2")
    assert status["error"]["message"] == "boom" and status["executionId"] == "ex1"


async def test_a_finished_flowrun_is_deleted_after_its_ttl(
    cluster: Cluster,  # noqa: F811
    operator: KopfRunner,
) -> None:
    await cluster.create(flow(trigger={"manual": {}}))
    await cluster.create(flowrun(name="kept", ttlSecondsAfterFinished=3600))
    await cluster.create(flowrun(name="gone", ttlSecondsAfterFinished=0))
    for name in ("kept", "gone"):
        await cluster.wait_for(f"the Job {name}", lambda name=name: cluster.get("Job", name))
        done = outcome_status("ex", "succeeded", time.time() - 1, time.time(), 1, None)
        await cluster.patch("FlowRun", name, {"status": done})

    async def deleted() -> bool:
        return await cluster.get("FlowRun", "gone") is None

    await cluster.wait_for("the expired FlowRun deleted", deleted)
    assert await cluster.get("FlowRun", "kept") is not None
