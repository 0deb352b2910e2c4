"""The runner's Prometheus metrics, fed by the engine's listener hooks and the triggers.

One registry per service, so tests and several services in one process do not share counts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from weir import __version__
from weir.engine.events import ExecutionListener, ExecutionResult
from weir.nodes.breaker import Circuits
from weir.store.base import Interrupted
from weir.store.records import ExecutionRecord, NodeRunRecord, Status

CONTENT_TYPE = CONTENT_TYPE_LATEST
DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class OutboxMetrics:
    """Shipping the local store's records to the console (weir.serve.ship)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = CollectorRegistry() if registry is None else registry
        self.backlog = Gauge(
            "weir_outbox_backlog",
            "Recorded changes (execution and node events) not yet shipped to the console.",
            registry=r,
        )
        self.shipped = Counter(
            "weir_outbox_shipped", "Executions the console took (each shipment counts).", registry=r
        )
        self.failures = Counter(
            "weir_outbox_failures",
            "Shipments that failed: the console unreachable, slow, or not answering 2xx.",
            registry=r,
        )
        self.rejected = Counter(
            "weir_outbox_rejected",
            "Executions the console refused for good (400, 413, 422): kept locally only.",
            registry=r,
        )


class WaitMetrics:
    """Durable executions: how many wait, how many this runner resumed (weir.engine.waker)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.waiting = Gauge(
            "weir_executions_waiting",
            "Executions of the flow parked on a wait (a sleep, a person, a child flow), as the "
            "store last said.",
            ["flow"],
            registry=registry,
        )
        self.resumed = Counter(
            "weir_waits_resumed",
            "Parked executions this runner resumed, by wait kind.",
            ["flow", "kind"],
            registry=registry,
        )


class CircuitMetrics:
    """The engine's circuit breakers, read when the metrics are scraped: nothing is counted on
    the calls' path. A connection whose circuits differ by node settings shows the worst state
    and the sum of their refusals."""

    def __init__(self, registry: CollectorRegistry, flow: Callable[[], str]) -> None:
        self.circuits: Circuits | None = None
        self._flow = flow
        registry.register(self)

    def watch(self, circuits: Circuits) -> None:
        self.circuits = circuits

    def describe(self) -> Iterator[Metric]:
        return iter(self._families())

    def collect(self) -> Iterator[Metric]:
        state, rejected = self._families()
        worst: dict[str, int] = {}
        refused: dict[str, int] = {}
        for circuit in self.circuits or ():
            key = circuit.connection
            worst[key] = max(worst.get(key, 0), circuit.state)
            refused[key] = refused.get(key, 0) + circuit.rejected
        flow = self._flow()
        for connection, value in worst.items():
            state.add_metric([connection, flow], value)
            rejected.add_metric([connection, flow], refused[connection])
        yield state
        yield rejected

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, CounterMetricFamily]:
        labels = ["connection", "flow"]
        return (
            GaugeMetricFamily(
                "weir_circuit_state",
                "Circuit breaker of a connection: 0 closed, 1 half-open, 2 open.",
                labels=labels,
            ),
            CounterMetricFamily(
                "weir_circuit_rejected",
                "Calls an open circuit refused at once (circuitOpen).",
                labels=labels,
            ),
        )


class RunnerMetrics(ExecutionListener):
    """``flow`` labels node metrics (node records carry only the execution id); a runner
    serves one flow, and the service updates it when a reload renames the flow."""

    def __init__(self, flow: str = "") -> None:
        self.flow = flow
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        # The hot paths' children under plain keys: fewer lookups per execution.
        self._node_seconds: dict[tuple[str, str, str], Any] = {}
        self._finished: dict[tuple[str, str], tuple[Any, Any, Any]] = {}
        self.registry = CollectorRegistry()
        r = self.registry
        self.executions = Counter(
            "weir_executions", "Finished executions.", ["flow", "status"], registry=r
        )
        self.execution_seconds = Histogram(
            "weir_execution_duration_seconds",
            "Execution duration.",
            ["flow"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.node_seconds = Histogram(
            "weir_node_duration_seconds",
            "Node run duration, retries included.",
            ["flow", "node", "kind"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.node_failures = Counter(
            "weir_node_failures", "Node runs that failed.", ["flow", "node", "type"], registry=r
        )
        self.retries = Counter(
            "weir_node_retries", "Attempts after a node's first.", ["flow", "node"], registry=r
        )
        self.interrupted = Counter(
            "weir_executions_interrupted",
            "Executions found left running by a runner that stopped, marked interrupted.",
            ["flow"],
            registry=r,
        )
        self.in_flight = Gauge(
            "weir_executions_in_flight", "Executions running now.", ["flow"], registry=r
        )
        self.trigger_events = Counter(
            "weir_trigger_events",
            "What triggers did: received, rejected, acked, requeued, dead_lettered, fired, "
            "skipped.",
            ["flow", "trigger", "outcome"],
            registry=r,
        )
        self.reloads = Counter(
            "weir_flow_reloads", "Flow file reloads by outcome.", ["outcome"], registry=r
        )
        self.flow_valid = Gauge(
            "weir_flow_file_valid",
            "1 when the flow file on disk is the revision being served, 0 when it is invalid.",
            registry=r,
        )
        self.outbox, self.waits = OutboxMetrics(r), WaitMetrics(r)
        self.circuits = CircuitMetrics(r, lambda: self.flow)
        self.build = Info("weir_build", "The runner's version.", registry=r)
        self.build.info({"version": __version__})
        self.flow_valid.set(1)

    def _child(self, metric: Any, *labels: str) -> Any:
        # labels() looks the child up under a lock on every call; the hot path keeps its own.
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def trigger(self, flow: str, trigger: str, outcome: str, amount: int = 1) -> None:
        self._child(self.trigger_events, flow, trigger, outcome).inc(amount)

    def execution_started(self, record: ExecutionRecord) -> None:
        self._child(self.in_flight, record.flow).inc()

    def node_finished(self, record: NodeRunRecord) -> None:
        flow = self.flow
        key = (flow, record.node, record.kind)
        seconds = self._node_seconds.get(key)
        if seconds is None:
            seconds = self._node_seconds[key] = self.node_seconds.labels(*key)
        seconds.observe(record.finished_at - record.started_at)
        if len(record.attempts) > 1:  # one attempt is a first one
            retries = record.retries
            if retries:
                self._child(self.retries, flow, record.node).inc(retries)
        if record.error:
            error_type = str(record.error.get("type", "error"))
            self._child(self.node_failures, flow, record.node, error_type).inc()

    def execution_finished(self, result: ExecutionResult) -> None:
        if result.status == Status.WAITING:  # parked, not finished: no longer in flight
            self._child(self.in_flight, result.flow).dec()
            return
        key = (result.flow, result.status)
        children = self._finished.get(key)
        if children is None:
            children = self._finished[key] = (
                self._child(self.in_flight, result.flow),
                self._child(self.executions, *key),
                self._child(self.execution_seconds, result.flow),
            )
        in_flight, executions, seconds = children
        in_flight.dec()
        executions.inc()
        seconds.observe(result.duration_ms / 1000)

    def resumed(self, kind: str) -> None:
        self._child(self.waits.resumed, self.flow, kind).inc()

    def executions_interrupted(self, found: list[Interrupted]) -> None:
        for item in found:
            self._child(self.interrupted, item.flow).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
