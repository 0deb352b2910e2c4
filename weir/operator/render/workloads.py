"""The objects of a flow's runner around its pod: the flow's ConfigMap, the runner's RBAC, and
the Deployment and Service, CronJob or manual Job that run it."""

from __future__ import annotations

import hashlib
from typing import Any

from weir.operator.render.common import (
    FLOW_FILE,
    Owner,
    RenderInput,
    flow_document,
    metadata,
    object_name,
    selector,
)
from weir.operator.render.pod import pod_template
from weir.operator.render.scaling import autoscaler


def flowrun_job_name(flow_name: str, flowrun: str) -> str:
    """The FlowRun's own name when a Job may carry it (its Pods hold it as a label value: at
    most 63, a DNS label), else ``weir-<flow>-run-<6 hex of it>`` (at most 63 too)."""
    if len(flowrun) <= 63 and "." not in flowrun:
        return flowrun
    suffix = hashlib.sha256(flowrun.encode()).hexdigest()[:6]
    return f"{object_name(flow_name)}-run-{suffix}"


def render_flowrun_job(data: RenderInput, flowrun: Owner) -> dict[str, Any]:
    """The Job of one FlowRun: the flow's runner pod running `weir flowrun NAME`, which reads
    the FlowRun and writes its status; owned by the FlowRun, collected with it."""
    name = flowrun_job_name(data.flow.name, flowrun.name)
    job = metadata(data, "Job", "batch/v1", name)
    job["metadata"]["ownerReferences"] = [flowrun.reference()]
    job["metadata"]["annotations"] = {"weir.dev/flowrun": flowrun.name}
    command = ["weir", "flowrun", flowrun.name, "--file", FLOW_FILE, "--quiet"]
    pod = pod_template(data, command, long_lived=False)
    pod["spec"]["restartPolicy"] = "Never"
    # One try: the flow's nodes retry on their own, and a second pod would run it again.
    job["spec"] = {"backoffLimit": 0, "template": pod}
    return job


def flow_config_map(data: RenderInput) -> dict[str, Any]:
    config_map = metadata(data, "ConfigMap", "v1")
    config_map["data"] = {"flow.yaml": flow_document(data.flow, data.namespace)}
    return config_map


def runner_rbac(data: RenderInput) -> list[dict[str, Any]]:
    """The runner may read its own Flow and patch its status, and read FlowRuns and write
    their status (`weir flowrun`; FlowRun names are not known in advance, so these rules name
    none: a runner may write the status of other FlowRuns of its namespace)."""
    name = object_name(data.flow.name)
    account = metadata(data, "ServiceAccount", "v1")
    account["automountServiceAccountToken"] = True
    role = metadata(data, "Role", "rbac.authorization.k8s.io/v1")
    role["rules"] = [
        {
            "apiGroups": ["weir.dev"],
            "resources": ["flows"],
            "resourceNames": [data.flow.name],
            "verbs": ["get"],
        },
        {
            "apiGroups": ["weir.dev"],
            "resources": ["flows/status"],
            "resourceNames": [data.flow.name],
            "verbs": ["get", "patch"],
        },
        {"apiGroups": ["weir.dev"], "resources": ["flowruns"], "verbs": ["get"]},
        {"apiGroups": ["weir.dev"], "resources": ["flowruns/status"], "verbs": ["patch"]},
    ]
    binding = metadata(data, "RoleBinding", "rbac.authorization.k8s.io/v1")
    binding["roleRef"] = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name}
    binding["subjects"] = [{"kind": "ServiceAccount", "name": name, "namespace": data.namespace}]
    return [account, role, binding]


def runner_deployment(data: RenderInput) -> dict[str, Any]:
    spec = data.flow.flow.spec
    deployment = metadata(data, "Deployment", "apps/v1")
    command = ["weir", "serve", FLOW_FILE, "--port", str(data.settings.port)]
    deployment["spec"] = {
        "selector": {"matchLabels": selector(data.flow.name)},
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
        },
        "template": pod_template(data, command, long_lived=True),
    }
    # With an autoscaler, replicas are its to set: Weir never applies the field, so server-side
    # apply leaves it to the HPA's or KEDA's writes.
    if spec.suspend:
        deployment["spec"]["replicas"] = 0
    elif spec.trigger.kind in ("files", "mail"):  # one poller; spec.scaling does not apply
        deployment["spec"]["replicas"] = 1
    elif not autoscaler(data):
        deployment["spec"]["replicas"] = spec.scaling.minReplicas if spec.scaling else 1
    return deployment


def runner_service(data: RenderInput) -> dict[str, Any]:
    service = metadata(data, "Service", "v1")
    service["spec"] = {
        "selector": selector(data.flow.name),
        "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
    }
    return service


def runner_cron_job(data: RenderInput) -> dict[str, Any]:
    spec = data.flow.flow.spec
    cron = spec.trigger.cron
    assert cron is not None
    job = metadata(data, "CronJob", "batch/v1")
    pod = pod_template(
        data, ["weir", "run", FLOW_FILE, "--trigger", "cron", "--quiet"], long_lived=False
    )
    pod["spec"]["restartPolicy"] = "Never"
    job["spec"] = {
        "schedule": cron.schedule,
        "timeZone": cron.timeZone or "Etc/UTC",
        "concurrencyPolicy": cron.concurrencyPolicy,
        "suspend": spec.suspend,
        "successfulJobsHistoryLimit": cron.successfulRunsHistoryLimit,
        "failedJobsHistoryLimit": cron.failedRunsHistoryLimit,
        # The flow's nodes retry on their own; a failed run is a failed run.
        "jobTemplate": {"spec": {"backoffLimit": 0, "template": pod}},
    }
    if cron.startingDeadline is not None:
        job["spec"]["startingDeadlineSeconds"] = max(int(cron.startingDeadline), 10)
    return job
