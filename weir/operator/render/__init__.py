"""Render a Flow into the manifests of its runner: pure functions, no API calls.

Used by the operator (which then applies them) and by `weir render FILE`. Every object is
named ``weir-<flow>``; the pod template carries checksums of the flow and of its secrets so
that a change to either rolls the runner out.

The modules: ``common`` (the input, names, labels, checksums), ``pod`` (the runner's pod),
``workloads`` (ConfigMap, RBAC, Deployment, Service, CronJob, a FlowRun's Job) and ``scaling``
(KEDA or HPA).
"""

from __future__ import annotations

from typing import Any

import yaml

from weir.operator.render.common import (
    Owner,
    RenderInput,
    checksum,
    labels,
    object_name,
    secrets_checksum,
)
from weir.operator.render.scaling import autoscaler
from weir.operator.render.workloads import (
    flow_config_map,
    flowrun_job_name,
    render_flowrun_job,
    runner_cron_job,
    runner_deployment,
    runner_rbac,
    runner_service,
)

__all__ = [
    "LONG_LIVED",
    "POLLED",
    "Owner",
    "RenderInput",
    "checksum",
    "flowrun_job_name",
    "labels",
    "object_name",
    "render",
    "render_flowrun_job",
    "secrets_checksum",
    "to_yaml",
]

POLLED = ("files", "mail")
"""Trigger kinds whose runner polls: one replica (a lease keeps pollers to one at a time)."""
LONG_LIVED = ("rest", "rabbitmq", "mcp", *POLLED)
"""Trigger kinds whose runner is a Deployment; a cron flow's is a CronJob."""


def render(data: RenderInput) -> list[dict[str, Any]]:
    """Every object of the flow's runner, in apply order."""
    trigger = data.flow.flow.spec.trigger
    objects = [flow_config_map(data), *runner_rbac(data)]
    if trigger.kind in LONG_LIVED:
        objects.append(runner_deployment(data))
        if trigger.kind in ("rest", "mcp"):
            objects.append(runner_service(data))
        if trigger.kind not in POLLED:
            objects += autoscaler(data)
    elif trigger.kind == "cron":
        objects.append(runner_cron_job(data))
    return objects


def to_yaml(objects: list[dict[str, Any]]) -> str:
    return "".join("---\n" + yaml.safe_dump(obj, sort_keys=False) for obj in objects)
