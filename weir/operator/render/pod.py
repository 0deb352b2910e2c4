"""The runner's pod: one hardened container with the flow, its secrets and scratch volumes."""

from __future__ import annotations

from typing import Any

from weir.lang.types import SecretRef
from weir.operator.render.common import (
    DATA_DIR,
    FILES_DIR,
    FLOW_DIR,
    SECRETS_DIR,
    RenderInput,
    checksum,
    flow_document,
    labels,
    object_name,
)


def pod_template(data: RenderInput, command: list[str], *, long_lived: bool) -> dict[str, Any]:
    """The pod of a Deployment (``long_lived``: a port, probes, scraped metrics) or a Job."""
    flow_text = flow_document(data.flow, data.namespace)
    settings = data.settings
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
        "containers": [_container(data, command, long_lived=long_lived)],
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


def _container(data: RenderInput, command: list[str], *, long_lived: bool) -> dict[str, Any]:
    settings = data.settings
    runner = data.flow.flow.spec.runner
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
    return container


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
    if settings.console_url:
        env.append({"name": "WEIR_CONSOLE_URL", "value": settings.console_url})
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
