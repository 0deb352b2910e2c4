"""How a long-lived runner scales: a KEDA ScaledObject on a RabbitMQ queue's length, or a
HorizontalPodAutoscaler on CPU."""

from __future__ import annotations

from typing import Any

from weir.operator.render.common import RenderInput, metadata, object_name


def autoscaler(data: RenderInput) -> list[dict[str, Any]]:
    """The scaler of the flow's Deployment, if its spec.scaling asks for one."""
    spec = data.flow.flow.spec
    scaling = spec.scaling
    if scaling is None or spec.suspend:
        return []
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": object_name(data.flow.name)}
    if scaling.queueLength is not None and spec.trigger.rabbitmq is not None:
        scaled = metadata(data, "ScaledObject", "keda.sh/v1alpha1")
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
        hpa = metadata(data, "HorizontalPodAutoscaler", "autoscaling/v2")
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
