"""The console's Prometheus metrics, in a registry of its own (tests run several consoles)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class ConsoleMetrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.ingested = Counter(
            "weir_console_ingested_executions",
            "Shipped executions ingested that changed the store (a repeat changes nothing).",
            registry=r,
        )
        # Not labelled by runner: runner ids change with every pod.
        self.ingest_batches = Counter(
            "weir_console_ingest_batches", "Ingest requests accepted.", registry=r
        )
        self.subscribers = Gauge(
            "weir_console_event_subscribers", "Open Server-Sent Events streams.", registry=r
        )
        self.request_seconds = Histogram(
            "weir_console_request_duration_seconds",
            "API request duration (an event stream counts when it ends).",
            ["route", "method", "status"],
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.pruned = Counter(
            "weir_console_pruned_executions", "Executions deleted by retention.", registry=r
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
