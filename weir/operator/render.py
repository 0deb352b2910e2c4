"""Render a Flow into the manifests of its runner: pure functions, no API calls.

Used by the operator (which then applies them) and by `weir render FILE`. Every object is
named ``weir-<flow>``; the pod template carries checksums of the flow and of its secrets so
that a change to either rolls the runner out.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import yaml

from weir.flow.load import CompiledFlow
from weir.flow.secretref import FlowSecretRefSpec
from weir.lang.types import SecretRef
from weir.operator.settings import RenderSettings

FLOW_DIR = "/etc/weir/flow"
FLOW_FILE = f"{FLOW_DIR}/flow.yaml"
SECRETS_DIR = "/etc/weir/secrets"
DATA_DIR = "/var/lib/weir"
FILES_DIR = "/var/lib/weir-files"
LONG_LIVED = ("rest", "rabbitmq", "mcp")


@dataclass(frozen=True)
class Owner:
    """The Flow object the rendered objects belong to (garbage-collected with it)."""

    name: str
    uid: str
    api_version: str = "weir.dev/v1alpha1"
    kind: str = "Flow"

    def reference(self) -> dict[str, Any]:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


@dataclass
class RenderInput:
    flow: CompiledFlow
    namespace: str
    settings: RenderSettings
    secret_refs: dict[str, FlowSecretRefSpec] = field(default_factory=dict)
    """FlowSecretRef name → spec, for every FlowSecretRef the flow binds."""
    secrets_checksum: str = ""
    owner: Owner | None = None


def object_name(flow_name: str) -> str:
    return f"weir-{flow_name}"


def labels(flow_name: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "weir-runner",
        "app.kubernetes.io/instance": flow_name,
        "app.kubernetes.io/component": "runner",
        "app.kubernetes.io/part-of": "weir",
        "app.kubernetes.io/managed-by": "weir-operator",
        "weir.dev/flow": flow_name,
    }


def selector(flow_name: str) -> dict[str, str]:
    return {"weir.dev/flow": flow_name, "app.kubernetes.io/component": "runner"}


def flow_document(flow: CompiledFlow, namespace: str) -> str:
    """The Flow as the runner reads it: the user's spec, without status or server fields."""
    resource = flow.flow.model_dump(
        mode="json", by_alias=True, exclude_none=True, exclude={"status"}
    )
    resource["metadata"] = {"name": flow.name, "namespace": namespace}
    return yaml.safe_dump(resource, sort_keys=False)


def checksum(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def render(data: RenderInput) -> list[dict[str, Any]]:
    """Every object of the flow's runner, in apply order."""
    trigger = data.flow.flow.spec.trigger
    objects = [_config_map(data), *_rbac(data)]
    if trigger.kind in LONG_LIVED:
        objects.append(_deployment(data))
        if trigger.kind in ("rest", "mcp"):
            objects.append(_service(data))
        objects += _autoscaler(data)
    elif trigger.kind == "cron":
        objects.append(_cron_job(data))
    return objects


def render_manual_job(
    data: RenderInput, token: str, run_input: str | None = None
) -> dict[str, Any]:
    """One Job for one `weir.dev/run=<token>` annotation; the name is derived from the token,
    the input (JSON text, from `weir.dev/run-input`) is passed to `weir run --input`."""
    # 6 hex digits: weir-<47 characters>-run-<6> is 63, the longest a Job name may be
    # (its Pods carry it as a label value).
    suffix = hashlib.sha256(token.encode()).hexdigest()[:6]
    job = _metadata(data, "Job", "batch/v1", f"{object_name(data.flow.name)}-run-{suffix}")
    job["metadata"]["annotations"] = {"weir.dev/run-token": token}
    command = ["weir", "run", FLOW_FILE, "--quiet"]
    if run_input is not None:
        command += ["--input", run_input]
    pod = _pod_template(data, command, long_lived=False)
    pod["spec"]["restartPolicy"] = "Never"
    job["spec"] = {"backoffLimit": 0, "ttlSecondsAfterFinished": 86400, "template": pod}
    return job


def _metadata(
    data: RenderInput, kind: str, api_version: str, name: str | None = None
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": name or object_name(data.flow.name),
        "namespace": data.namespace,
        "labels": labels(data.flow.name),
    }
    if data.owner is not None:
        metadata["ownerReferences"] = [data.owner.reference()]
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata}


def _config_map(data: RenderInput) -> dict[str, Any]:
    config_map = _metadata(data, "ConfigMap", "v1")
    config_map["data"] = {"flow.yaml": flow_document(data.flow, data.namespace)}
    return config_map


def _rbac(data: RenderInput) -> list[dict[str, Any]]:
    """The runner may read its own Flow and patch its status, nothing else."""
    name = object_name(data.flow.name)
    account = _metadata(data, "ServiceAccount", "v1")
    account["automountServiceAccountToken"] = True
    role = _metadata(data, "Role", "rbac.authorization.k8s.io/v1")
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
    ]
    binding = _metadata(data, "RoleBinding", "rbac.authorization.k8s.io/v1")
    binding["roleRef"] = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name}
    binding["subjects"] = [{"kind": "ServiceAccount", "name": name, "namespace": data.namespace}]
    return [account, role, binding]


def _deployment(data: RenderInput) -> dict[str, Any]:
    spec = data.flow.flow.spec
    deployment = _metadata(data, "Deployment", "apps/v1")
    command = ["weir", "serve", FLOW_FILE, "--port", str(data.settings.port)]
    deployment["spec"] = {
        "selector": {"matchLabels": selector(data.flow.name)},
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
        },
        "template": _pod_template(data, command, long_lived=True),
    }
    # With an autoscaler, replicas are its to set: Weir never applies the field, so server-side
    # apply leaves it to the HPA's or KEDA's writes.
    if spec.suspend:
        deployment["spec"]["replicas"] = 0
    elif not _autoscaler(data):
        deployment["spec"]["replicas"] = spec.scaling.minReplicas if spec.scaling else 1
    return deployment


def _service(data: RenderInput) -> dict[str, Any]:
    service = _metadata(data, "Service", "v1")
    service["spec"] = {
        "selector": selector(data.flow.name),
        "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
    }
    return service


def _autoscaler(data: RenderInput) -> list[dict[str, Any]]:
    spec = data.flow.flow.spec
    scaling = spec.scaling
    if scaling is None or spec.suspend:
        return []
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": object_name(data.flow.name)}
    if scaling.queueLength is not None and spec.trigger.rabbitmq is not None:
        scaled = _metadata(data, "ScaledObject", "keda.sh/v1alpha1")
        scaled["spec"] = {
            "scaleTargetRef": {"name": target["name"]},
            "minReplicaCount": scaling.minReplicas,
            "maxReplicaCount": scaling.maxReplicas,
            "triggers": [
                {
                    "type": "rabbitmq",
                    "metadata": {
                        "mode": "QueueLength",
                        "value": str(scaling.queueLength),
                        "queueName": spec.trigger.rabbitmq.queue,
                        "hostFromEnv": "WEIR_AMQP_URL",
                    },
                }
            ],
        }
        return [scaled]
    if scaling.cpuUtilization is not None or scaling.maxReplicas > scaling.minReplicas:
        hpa = _metadata(data, "HorizontalPodAutoscaler", "autoscaling/v2")
        hpa["spec"] = {
            "scaleTargetRef": target,
            "minReplicas": max(scaling.minReplicas, 1),
            "maxReplicas": scaling.maxReplicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": scaling.cpuUtilization or 80,
                        },
                    },
                }
            ],
        }
        return [hpa]
    return []


def _cron_job(data: RenderInput) -> dict[str, Any]:
    spec = data.flow.flow.spec
    cron = spec.trigger.cron
    assert cron is not None
    job = _metadata(data, "CronJob", "batch/v1")
    pod = _pod_template(
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


def _pod_template(data: RenderInput, command: list[str], *, long_lived: bool) -> dict[str, Any]:
    flow_text = flow_document(data.flow, data.namespace)
    settings = data.settings
    runner = data.flow.flow.spec.runner
    annotations = {
        "weir.dev/flow-checksum": checksum(flow_text),
        "weir.dev/secrets-checksum": data.secrets_checksum or checksum(""),
    }
    if long_lived:
        annotations |= {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(settings.port),
            "prometheus.io/path": "/metrics",
        }
    container: dict[str, Any] = {
        "name": "runner",
        "image": (runner.image if runner and runner.image else settings.runner_image),
        "imagePullPolicy": settings.image_pull_policy,
        "command": command,
        "env": _env(data),
        "resources": (runner.resources if runner and runner.resources else settings.resources),
        "securityContext": {
            "runAsNonRoot": True,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [
            {"name": "flow", "mountPath": FLOW_DIR, "readOnly": True},
            {"name": "data", "mountPath": DATA_DIR},
            {"name": "files", "mountPath": FILES_DIR},
            {"name": "tmp", "mountPath": "/tmp"},
            *(
                {
                    "name": f"secret-{binding}",
                    "mountPath": f"{SECRETS_DIR}/{binding}",
                    "readOnly": True,
                }
                for binding in _bindings(data)
            ),
        ],
    }
    if long_lived:
        container["ports"] = [{"name": "http", "containerPort": settings.port, "protocol": "TCP"}]
        container["livenessProbe"] = _probe("/healthz", period=10, failures=3)
        container["readinessProbe"] = _probe("/readyz", period=5, failures=2)
        container["startupProbe"] = _probe("/healthz", period=2, failures=30)
    spec: dict[str, Any] = {
        "serviceAccountName": object_name(data.flow.name),
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": settings.run_as_user,
            "runAsGroup": settings.run_as_user,
            "fsGroup": settings.run_as_user,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "terminationGracePeriodSeconds": settings.grace_period_seconds + 5,
        "containers": [container],
        "volumes": [
            {"name": "flow", "configMap": {"name": object_name(data.flow.name)}},
            {"name": "data", "emptyDir": {}},
            {"name": "files", "emptyDir": {}},
            {"name": "tmp", "emptyDir": {}},
            *(_secret_volume(data, binding, ref) for binding, ref in _bindings(data).items()),
        ],
    }
    return {
        "metadata": {"labels": labels(data.flow.name), "annotations": annotations},
        "spec": spec,
    }


def _bindings(data: RenderInput) -> dict[str, str]:
    """Logical secret name → FlowSecretRef name."""
    return {b.name: b.flowSecretRef or b.name for b in data.flow.flow.spec.secrets}


def _secret_volume(data: RenderInput, binding: str, ref_name: str) -> dict[str, Any]:
    ref = data.secret_refs.get(ref_name)
    source: dict[str, Any] = {"secretName": ref.secretName if ref else ref_name}
    if ref is not None:
        source["items"] = [{"key": k.source, "path": k.key} for k in ref.keys]
    return {"name": f"secret-{binding}", "secret": source}


def _env(data: RenderInput) -> list[dict[str, Any]]:
    settings = data.settings
    env: list[dict[str, Any]] = [
        {"name": "WEIR_SECRETS_DIR", "value": SECRETS_DIR},
        {"name": "WEIR_FLOW", "value": data.flow.name},
        {"name": "WEIR_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "WEIR_POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "WEIR_REPORT_STATUS", "value": "true"},
        # File nodes stay in a volume of their own: not the token, the mounted secrets or
        # the execution store (spec.runner.env may widen it, at the flow author's choice).
        {"name": "WEIR_FILE_BASE_DIR", "value": FILES_DIR},
        {"name": "WEIR_GRACE_PERIOD", "value": str(settings.grace_period_seconds)},
        {"name": "HOME", "value": "/tmp"},
        {"name": "TMPDIR", "value": "/tmp"},
    ]
    if settings.store_secret:
        name, key = settings.store_secret
        env.append(
            {"name": "WEIR_STORE", "valueFrom": {"secretKeyRef": {"name": name, "key": key}}}
        )
    else:
        env.append({"name": "WEIR_STORE", "value": f"sqlite:///{DATA_DIR}/executions.db"})
    rabbitmq = data.flow.flow.spec.trigger.rabbitmq
    if rabbitmq is not None:  # for KEDA's scaler, which reads the broker URL from the pod
        env.append({"name": "WEIR_AMQP_URL", **_value_or_secret(data, rabbitmq.url)})
    runner = data.flow.flow.spec.runner
    if runner:
        # The flow's own values win; one entry per name (env is a list-map keyed by name).
        env = [e for e in env if e["name"] not in runner.env]
        env += [{"name": k, "value": v} for k, v in sorted(runner.env.items())]
    return env


def _value_or_secret(data: RenderInput, value: str | SecretRef) -> dict[str, Any]:
    if isinstance(value, str):
        return {"value": value}
    ref_name = _bindings(data).get(value.secret, value.secret)
    ref = data.secret_refs.get(ref_name)
    secret_name = ref.secretName if ref else ref_name
    key = next((k.source for k in ref.keys if k.key == value.key), value.key) if ref else value.key
    return {"valueFrom": {"secretKeyRef": {"name": secret_name, "key": key}}}


def _probe(path: str, *, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "failureThreshold": failures,
        "timeoutSeconds": 2,
    }


def secrets_checksum(secret_data: dict[str, dict[str, str]]) -> str:
    """A checksum over the Secret data a flow reads (Secret name → key → base64 value)."""
    return checksum(json.dumps(secret_data, sort_keys=True))


def to_yaml(objects: list[dict[str, Any]]) -> str:
    return "".join("---\n" + yaml.safe_dump(obj, sort_keys=False) for obj in objects)
