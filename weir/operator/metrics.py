"""Operator metrics: reconciles, errors and flows by phase."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from weir import __version__

REGISTRY = CollectorRegistry()
RECONCILES = Counter(
    "weir_operator_reconciles_total",
    "Flow reconciliations, by resulting phase.",
    ["phase"],
    registry=REGISTRY,
)
RECONCILE_ERRORS = Counter(
    "weir_operator_reconcile_errors_total",
    "Reconciliations that failed on an API error.",
    registry=REGISTRY,
)
FLOWS = Gauge(
    "weir_operator_flows", "Flows known to the operator, by phase.", ["phase"], registry=REGISTRY
)
BUILD = Gauge("weir_operator_build_info", "Operator version.", ["version"], registry=REGISTRY)
BUILD.labels(__version__).set(1)

_phases: dict[tuple[str, str], str] = {}


def observe(flow: tuple[str, str], phase: str) -> None:
    RECONCILES.labels(phase).inc()
    _phases[flow] = phase
    _publish()


def forget(flow: tuple[str, str]) -> None:
    _phases.pop(flow, None)
    _publish()


def _publish() -> None:
    counts: dict[str, int] = {}
    for phase in _phases.values():
        counts[phase] = counts.get(phase, 0) + 1
    for phase in ("Ready", "Progressing", "Failed", "Suspended", *counts):
        FLOWS.labels(phase).set(counts.get(phase, 0))
