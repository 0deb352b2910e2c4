"""The runner's metrics count what the engine's records say, whichever children they keep."""

from __future__ import annotations

from weir.engine.events import ExecutionResult
from weir.engine.metrics import RunnerMetrics
from weir.store.records import ExecutionRecord, NodeRunRecord, Status


def _value(metrics: RunnerMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def _node(node: str, attempts: list[int], error: str | None = None) -> NodeRunRecord:
    return NodeRunRecord(
        execution_id="e",
        seq=1,
        node=node,
        kind="transform",
        status=Status.FAILED if error else Status.SUCCEEDED,
        started_at=100.0,
        finished_at=100.25,
        attempts=[{"attempt": number} for number in attempts],
        error={"type": error} if error else None,
    )


def test_node_runs_count_durations_retries_and_failures() -> None:
    metrics = RunnerMetrics("orders")
    metrics.node_finished(_node("a", [1]))
    metrics.node_finished(_node("a", [1, 2, 3]))
    metrics.node_finished(_node("b", [1, 1, 2], error="http"))  # forEach: retries per item
    node = {"flow": "orders", "kind": "transform"}
    assert _value(metrics, "weir_node_duration_seconds_count", node="a", **node) == 2
    assert _value(metrics, "weir_node_duration_seconds_sum", node="a", **node) == 0.5
    assert _value(metrics, "weir_node_retries_total", flow="orders", node="a") == 2
    assert _value(metrics, "weir_node_retries_total", flow="orders", node="b") == 1
    assert _value(metrics, "weir_node_failures_total", flow="orders", node="b", type="http") == 1
    assert _value(metrics, "weir_node_failures_total", flow="orders", node="a", type="http") is None


def test_executions_count_in_flight_and_by_status() -> None:
    metrics = RunnerMetrics("orders")
    for status in (Status.SUCCEEDED, Status.SUCCEEDED, Status.FAILED):
        metrics.execution_started(
            ExecutionRecord("e", "orders", "r", "rest", {}, Status.RUNNING, 10.0)
        )
        metrics.execution_finished(
            ExecutionResult("e", "orders", status, None, None, 10.0, 12.0, [])
        )
    metrics.execution_started(ExecutionRecord("f", "orders", "r", "rest", {}, Status.RUNNING, 1.0))
    assert _value(metrics, "weir_executions_in_flight", flow="orders") == 1
    assert _value(metrics, "weir_executions_total", flow="orders", status="succeeded") == 2
    assert _value(metrics, "weir_executions_total", flow="orders", status="failed") == 1
    assert _value(metrics, "weir_execution_duration_seconds_sum", flow="orders") == 6.0
