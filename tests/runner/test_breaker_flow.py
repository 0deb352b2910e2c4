"""Circuit breakers end to end: flows whose http node calls a local server that fails on demand
(the circuit opens, calls fail fast without reaching the server, the probe closes it), retries
that do not hammer, and the state in the metrics and in `weir serve`'s /readyz."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from tests.runner.serving import Served, free_port
from tests.runner.test_serve import write_flow
from weir.engine.executor import Engine, ExecutionResult, TriggerEvent
from weir.engine.metrics import RunnerMetrics
from weir.flow.load import CompiledFlow, load_flow_file, load_flows_text
from weir.nodes.breaker import circuits_of


class Dependency:
    """A service that answers 503 while ``failing``, and counts every request it gets."""

    def __init__(self) -> None:
        self.failing = True
        self.hits = 0
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        if self.failing:
            return web.json_response({"error": "down"}, status=503)
        return web.json_response({"ok": True})


@pytest.fixture
async def dependency() -> AsyncIterator[Dependency]:
    service = Dependency()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", service.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    service.url = f"http://127.0.0.1:{port}"
    yield service
    await runner.cleanup()


def flow(
    url: str,
    retry: str = "{maxAttempts: 5, initialDelay: 10ms, jitter: false}",
    breaker: str = "{failures: 3, minCalls: 3, window: 60s, openFor: 1s}",
) -> CompiledFlow:
    text = f"""\
apiVersion: weir.dev/v1alpha1
kind: Flow
metadata: {{name: orders}}
spec:
  trigger: {{manual: {{}}}}
  nodes:
    - name: call
      http: {{url: "{url}/orders"}}
      retry: {retry}
      circuitBreaker: {breaker}
"""
    return load_flows_text(text)[0]


def error_type(result: ExecutionResult) -> Any:
    assert result.status == "failed" and result.error is not None
    return result.error["type"]


async def test_the_circuit_opens_fails_fast_and_closes_when_the_probe_succeeds(
    dependency: Dependency,
) -> None:
    compiled = flow(dependency.url)
    engine = Engine()
    metrics = RunnerMetrics("orders")
    metrics.circuits.watch(circuits_of(engine.resources))
    labels = f'connection="{dependency.url}",flow="orders"'
    try:
        first = await engine.execute(compiled, TriggerEvent())
        # Three 503s open the circuit; the retry policy does not try the fourth attempt's
        # refusal again, so the server saw three requests, not five.
        assert error_type(first) == "circuitOpen"
        assert dependency.hits == 3
        attempts = first.nodes[0].attempts
        assert [a["error"]["type"] for a in attempts if a.get("error")] == [
            "http",
            "http",
            "http",
            "circuitOpen",
        ]
        assert f"circuit open for {dependency.url}" in first.error["message"]

        began = time.monotonic()
        for _ in range(5):
            assert error_type(await engine.execute(compiled, TriggerEvent())) == "circuitOpen"
        assert time.monotonic() - began < 1.0  # at once, not after timeouts or retries
        assert dependency.hits == 3  # none of them reached the server
        scraped = metrics.exposition().decode()
        assert f"weir_circuit_state{{{labels}}} 2.0" in scraped
        assert f"weir_circuit_rejected_total{{{labels}}} 6.0" in scraped

        dependency.failing = False
        await asyncio.sleep(1.05)  # openFor: the next call is the probe
        recovered = await engine.execute(compiled, TriggerEvent())
        assert recovered.status == "succeeded" and recovered.result["status"] == 200
        assert dependency.hits == 4
        assert f"weir_circuit_state{{{labels}}} 0.0" in metrics.exposition().decode()
        assert (await engine.execute(compiled, TriggerEvent())).status == "succeeded"
        assert dependency.hits == 5
    finally:
        await engine.aclose()


async def test_a_failed_probe_opens_it_again(dependency: Dependency) -> None:
    compiled = flow(dependency.url)
    engine = Engine()
    try:
        await engine.execute(compiled, TriggerEvent())
        assert dependency.hits == 3
        await asyncio.sleep(1.05)
        probe = await engine.execute(compiled, TriggerEvent())
        assert dependency.hits == 4  # the probe reached the server and failed ...
        assert error_type(probe) == "circuitOpen"  # ... and the retry met the open circuit
        assert "the probe failed (last: http 503)" in probe.error["message"]
        assert error_type(await engine.execute(compiled, TriggerEvent())) == "circuitOpen"
        assert dependency.hits == 4
    finally:
        await engine.aclose()


async def test_retry_on_circuit_open_waits_for_the_probe(dependency: Dependency) -> None:
    compiled = flow(
        dependency.url,
        retry="{maxAttempts: 6, initialDelay: 10ms, jitter: false, "
        "retryOn: [retryable, circuitOpen]}",
        breaker="{failures: 2, minCalls: 2, openFor: 500ms}",
    )
    engine = Engine()

    async def recover() -> None:
        await asyncio.sleep(0.2)
        dependency.failing = False

    try:
        began = time.monotonic()
        healing = asyncio.create_task(recover())
        result = await engine.execute(compiled, TriggerEvent())
        await healing
        assert result.status == "succeeded"
        assert dependency.hits == 3  # two failures, then the probe after openFor
        assert time.monotonic() - began >= 0.5
        errors = [a["error"]["type"] for a in result.nodes[0].attempts if a.get("error")]
        assert errors == ["http", "http", "circuitOpen"]
    finally:
        await engine.aclose()


async def test_a_node_can_go_without_one(dependency: Dependency) -> None:
    compiled = flow(
        dependency.url, retry="{maxAttempts: 8, initialDelay: 1ms, jitter: false}", breaker="false"
    )
    engine = Engine()
    try:
        assert error_type(await engine.execute(compiled, TriggerEvent())) == "http"
        assert dependency.hits == 8
        assert list(circuits_of(engine.resources)) == []
    finally:
        await engine.aclose()


async def test_the_example_answers_from_its_fallback_once_the_circuit_opens() -> None:
    compiled = load_flow_file(Path(__file__).parents[2] / "examples/circuit-breaker/flow.yaml")
    engine = Engine()
    try:
        closed = f"http://127.0.0.1:{free_port()}/prices"
        result = await engine.execute(compiled, TriggerEvent(payload={"url": closed}))
        assert result.status == "succeeded"
        assert result.result["source"] == "fallback" and result.result["because"] == "circuitOpen"
        assert len(result.nodes[0].attempts) == 4  # of six: the fourth met the open circuit
    finally:
        await engine.aclose()


def test_serve_lists_open_circuits_in_readyz_and_stays_ready(tmp_path: Path) -> None:
    closed = free_port()  # nothing listens: every call is refused
    flow_file = write_flow(
        tmp_path / "flow.yaml",
        "trigger: {rest: {path: /orders}}",
        f"""
        - name: call
          http: {{url: "http://127.0.0.1:{closed}/orders"}}
          circuitBreaker: {{failures: 2, minCalls: 2, openFor: 1m}}
        """,
    )
    with Served(flow_file, "--no-store") as served:
        assert served.wait_ready()["openCircuits"] == []
        for _ in range(3):
            httpx.post(served.url + "/orders", json={}, timeout=10)
        answer = httpx.get(served.url + "/readyz")
        assert answer.status_code == 200 and answer.json()["ready"] is True
        (circuit,) = answer.json()["openCircuits"]
        assert circuit["connection"] == f"http://127.0.0.1:{closed}"
        assert circuit["state"] == "open" and circuit["rejected"] == 1
        assert circuit["reason"] == "2 of 2 calls failed within 60s (last: connection)"
        assert circuit["probeAt"].endswith("Z")
        labels = f'connection="http://127.0.0.1:{closed}",flow="served"'
        scraped = httpx.get(served.url + "/metrics").text
        assert f"weir_circuit_state{{{labels}}} 2.0" in scraped
        assert f"weir_circuit_rejected_total{{{labels}}} 1.0" in scraped
