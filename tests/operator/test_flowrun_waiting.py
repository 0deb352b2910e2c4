"""A FlowRun whose execution parked (a subflow's child still running, a sleep, a person's
wait): its runner reports ``Waiting`` — not finished, never expired, not failed by its Job's
end — and a child started by the console carries its parent in ``spec.parent``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import yaml
from kopf.testing import KopfRunner

from tests.operator.cluster import Cluster
from tests.operator.test_flowruns import flowrun, job, status_of
from tests.operator.test_handlers import cluster, flow  # noqa: F401 - the fixture
from weir.flow.flowrun import parse_spec
from weir.flow.flowrun_status import expiry, outcome_status
from weir.operator.crds import render_crds


def test_a_waiting_execution_leaves_its_flowrun_waiting_not_failed() -> None:
    status = outcome_status("ex9", "waiting", 100.0, 101.0, None, None)
    assert status["phase"] == "Waiting" and status["executionId"] == "ex9"
    assert "finishedAt" not in status and status["error"] is None
    (condition,) = status["conditions"]
    assert condition["status"] == "Unknown" and condition["reason"] == "Waiting"
    assert expiry({"status": status}, ttl=0) is None  # not finished: never deleted by its TTL


def test_the_crd_knows_the_waiting_phase_and_a_childs_parent() -> None:
    crd = yaml.safe_load(render_crds()["flowruns.weir.dev.yaml"])
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
    assert "Waiting" in schema["status"]["properties"]["phase"]["enum"]
    parent = schema["spec"]["properties"]["parent"]
    assert parent["x-kubernetes-preserve-unknown-fields"] is True  # not pruned by the apiserver
    spec = parse_spec({"flowRef": "child", "parent": {"executionId": "p1", "node": "call"}})
    assert spec.parent == {"executionId": "p1", "node": "call"}


@pytest.fixture
async def operator(cluster: Cluster) -> AsyncIterator[KopfRunner]:  # noqa: F811
    with KopfRunner(["run", "--all-namespaces", "--standalone"], timeout=60) as runner:
        yield runner
    assert runner.exception is None, runner.output


async def test_a_waiting_report_is_not_overwritten_when_its_job_completes(
    cluster: Cluster,  # noqa: F811
    operator: KopfRunner,
) -> None:
    await cluster.create(flow(trigger={"manual": {}}))
    await cluster.create(flowrun(name="run-3"))
    await cluster.wait_for("the Job", lambda: cluster.get("Job", "run-3"))
    now = time.time()
    await cluster.patch(
        "FlowRun", "run-3", {"status": outcome_status("ex1", "waiting", now, now, None, None)}
    )
    await cluster.patch("Job", "run-3", job(("Complete", "")))
    await cluster.wait_for("the Job's event", lambda: cluster.get("Job", "run-3"))
    await asyncio.sleep(0.5)
    status: dict[str, Any] = await status_of(cluster, "run-3")
    assert status["phase"] == "Waiting" and status["executionId"] == "ex1"


async def test_weir_flowrun_makes_spec_parent_the_childs_trigger_parent() -> None:
    from weir.cli.flowrun_command import _what_to_run

    parent = {"executionId": "p1", "node": "call", "flow": "nightly", "depth": 1}
    spec = parse_spec({"flowRef": "child", "input": {"n": 2}, "parent": parent})
    event, replay = await _what_to_run(None, spec, None)  # type: ignore[arg-type]
    assert (event.kind, event.payload, event.meta, replay) == (
        "subflow",
        {"n": 2},
        {"parent": parent},
        None,
    )
    plain, _ = await _what_to_run(None, parse_spec({"flowRef": "child"}), None)  # type: ignore[arg-type]
    assert (plain.kind, plain.meta) == ("manual", {})
