"""The Grafana dashboard and the Prometheus alert rules reference only metrics the code exports
(runner and operator registries, plus kube-state-metrics by name), every panel has a query,
every rule its severity and annotations, and the PrometheusRule wraps the same rules."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import yaml

from weir.console.metrics import ConsoleMetrics
from weir.engine.executor import ExecutionResult
from weir.engine.metrics import RunnerMetrics
from weir.operator import metrics as operator_metrics
from weir.store.records import ExecutionRecord, NodeRunRecord

DEPLOY = Path(__file__).parents[2] / "deploy"
KUBE_STATE_METRICS = {"kube_deployment_status_replicas_available", "kube_deployment_spec_replicas"}
PROMQL_WORDS = {
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "rate",
    "irate",
    "increase",
    "histogram_quantile",
    "label_values",
    "bool",
    "offset",
    "topk",
    "bottomk",
    "abs",
    "clamp_min",
    "clamp_max",
}


def exported_series() -> set[str]:
    """Every sample name the registries produce once each metric has seen a value."""
    runner = RunnerMetrics("f")
    now = time.time()
    runner.execution_started(ExecutionRecord("e", "f", "r", "manual", {}, "running", now))
    runner.node_finished(
        NodeRunRecord(
            "e",
            1,
            "n",
            "log",
            "failed",
            now,
            now + 0.1,
            attempts=[{"attempt": 1}, {"attempt": 2}],
            error={"type": "http"},
        )
    )
    runner.execution_finished(ExecutionResult("e", "f", "failed", None, {}, now, now + 1, []))
    runner.trigger("f", "rest", "received")
    runner.reloads.labels("applied").inc()
    operator_metrics.observe(("ns", "f"), "Ready")
    operator_metrics.RECONCILE_ERRORS.inc()
    console = ConsoleMetrics()
    console.request_seconds.labels("/api/v1/executions", "GET", "200").observe(0.01)
    names = set()
    for registry in (runner.registry, operator_metrics.REGISTRY, console.registry):
        for family in registry.collect():
            names |= {sample.name for sample in family.samples}
    return names


def metric_names(expr: str) -> set[str]:
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values and strings
    expr = re.sub(r"\{[^}]*\}", "{}", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "[]", expr)  # ranges
    expr = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", " ", expr)  # grouping labels
    words = set(re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b", expr))
    return {w for w in words if w not in PROMQL_WORDS and not re.fullmatch(r"\d.*", w)}


def dashboard() -> dict[str, Any]:
    return json.loads((DEPLOY / "grafana" / "weir-dashboard.json").read_text())  # type: ignore[no-any-return]


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load((DEPLOY / "prometheus" / "weir-alerts.yaml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def dashboard_queries() -> list[str]:
    queries = [t["expr"] for p in dashboard()["panels"] for t in p["targets"]]
    for variable in dashboard()["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            inner = re.search(r"label_values\((.*),\s*\w+\)$", query["query"])
            assert inner, query
            queries.append(inner.group(1))
    return queries


def test_the_extractor_finds_metrics_and_skips_promql() -> None:
    expr = 'histogram_quantile(0.95, sum by (le, flow) (rate(weir_x_bucket{a="sum"}[5m]))) / on (flow) weir_y'
    assert metric_names(expr) == {"weir_x_bucket", "weir_y"}


def test_the_dashboard_uses_only_exported_metrics() -> None:
    exported = exported_series()
    used = set().union(*(metric_names(q) for q in dashboard_queries()))
    assert used, "no queries found"
    assert used - exported == set()


def test_the_alert_rules_use_only_exported_metrics() -> None:
    exported = exported_series() | KUBE_STATE_METRICS
    used = set().union(*(metric_names(rule["expr"]) for rule in alert_rules()))
    assert used - exported == set()
    for name in ("weir_executions_total", "weir_node_retries_total", "weir_trigger_events_total"):
        assert name in used
    for name in ("weir_outbox_backlog", "weir_outbox_rejected_total"):
        assert name in used


def test_every_panel_has_a_title_and_a_query() -> None:
    board = dashboard()
    assert board["schemaVersion"] >= 36
    assert {v["name"] for v in board["templating"]["list"]} == {"datasource", "namespace", "flow"}
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        assert panel["title"] and panel["targets"] and all(t["expr"] for t in panel["targets"])


def test_every_rule_says_how_bad_it_is_and_what_to_do() -> None:
    rules = alert_rules()
    assert {r["alert"] for r in rules} >= {
        "WeirExecutionsFailing",
        "WeirRetriesExhausted",
        "WeirRunnerNotReady",
        "WeirMessagesDeadLettered",
        "WeirOperatorReconcileErrors",
        "WeirOutboxBacklog",
        "WeirOutboxRefused",
        "WeirConsoleSlow",
    }
    for rule in rules:
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert {"summary", "description", "runbook"} <= set(rule["annotations"])


def test_the_prometheus_rule_wraps_the_same_rules() -> None:
    wrapped = yaml.safe_load((DEPLOY / "prometheus" / "weir-prometheusrule.yaml").read_text())
    plain = yaml.safe_load((DEPLOY / "prometheus" / "weir-alerts.yaml").read_text())
    assert wrapped["kind"] == "PrometheusRule" and wrapped["spec"] == plain
