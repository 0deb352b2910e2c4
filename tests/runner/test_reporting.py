"""Runner reporting into the Flow's status (against KMock's emulator): lastExecution and counts,
throttled to one write per interval with the latest state winning, added to what other runner
replicas already reported."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.operator.cluster import Cluster, declare, write_kubeconfig
from weir.engine.executor import ExecutionResult
from weir.serve.reporting import StatusReporter


@pytest.fixture
async def cluster(
    kmock: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Cluster]:
    declare(kmock)
    monkeypatch.setenv("KUBECONFIG", str(write_kubeconfig(tmp_path / "kubeconfig", str(kmock.url))))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    async with aiohttp.ClientSession() as session:
        cluster = Cluster(str(kmock.url), session)
        await cluster.create(
            {
                "apiVersion": "weir.dev/v1alpha1",
                "kind": "Flow",
                "metadata": {"name": "echo"},
                "spec": {
                    "trigger": {"manual": {}},
                    "nodes": [{"name": "a", "log": {"message": "x"}}],
                },
            }
        )
        yield cluster


def result(status: str, n: int) -> ExecutionResult:
    now = time.time()
    error = {"node": "a", "message": f"boom {n}"} if status == "failed" else None
    return ExecutionResult(f"id-{n}", "echo", status, None, error, now - 0.25, now, [])


async def test_a_burst_of_executions_is_one_write_with_the_latest_state(cluster: Cluster) -> None:
    reporter = StatusReporter("default", "echo", interval=60)
    for n, status in enumerate(["succeeded", "succeeded", "failed"]):
        reporter.execution_finished(result(status, n))
    for _ in range(100):  # the first report goes out at once
        if reporter.writes:
            break
        await asyncio.sleep(0.05)
    assert reporter.writes == 1
    reporter.execution_finished(result("succeeded", 3))
    reporter.execution_finished(result("failed", 4))
    await asyncio.sleep(0.2)
    assert reporter.writes == 1  # the rest waits for the interval (or for shutdown)
    await reporter.aclose()
    assert reporter.writes == 2
    status = (await cluster.get("Flow", "echo"))["status"]
    assert status["executions"] == {"succeeded": 3, "failed": 2}
    last = status["lastExecution"]
    assert last["id"] == "id-4" and last["phase"] == "failed" and last["error"] == "boom 4"
    assert last["durationMs"] == 250.0


async def test_counts_add_to_what_other_replicas_reported(cluster: Cluster) -> None:
    await cluster.patch("Flow", "echo", {"status": {"executions": {"succeeded": 10, "failed": 1}}})
    reporter = StatusReporter("default", "echo", interval=0)
    reporter.execution_finished(result("succeeded", 1))
    await reporter.aclose()
    assert (await cluster.get("Flow", "echo"))["status"]["executions"] == {
        "succeeded": 11,
        "failed": 1,
    }


async def test_closing_while_a_report_is_on_its_way_lets_it_land(cluster: Cluster) -> None:
    reporter = StatusReporter("default", "echo", interval=0)
    reporter.execution_finished(result("succeeded", 7))
    for _ in range(10_000):  # until the flusher is inside its write
        if reporter._writing.locked():
            break
        await asyncio.sleep(0)
    assert reporter._writing.locked()
    await reporter.aclose()
    status = (await cluster.get("Flow", "echo"))["status"]
    assert status["lastExecution"]["id"] == "id-7"
    assert status["executions"] == {"succeeded": 1, "failed": 0}
    assert reporter.writes == 1


def test_reporting_is_off_unless_the_pod_asks_for_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEIR_REPORT_STATUS", raising=False)
    assert StatusReporter.from_environment() is None
