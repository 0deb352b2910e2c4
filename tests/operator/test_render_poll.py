"""A flow with a polling trigger (files, mail) runs as a Deployment of one replica, whatever
its spec.scaling says: one poller per flow (its lease keeps a rollout's overlap to one)."""

from __future__ import annotations

import pytest

from tests.operator.test_render import compiled, rendered, validate_all
from weir.operator.render import RenderInput, render
from weir.operator.settings import RenderSettings

POLLING = {
    "files": "{files: {sftp: {host: sftp.example.com, username: in, "
    "password: {secret: broker, key: password}, knownHosts: 'h ssh-ed25519 AAAA'}, "
    "path: /incoming, pattern: '*.csv', after: {move: /done}}}",
    "mail": "{mail: {imap: {host: imap.example.com, username: in, "
    "password: {secret: broker, key: password}}, moveTo: Done}}",
}


@pytest.mark.parametrize("kind", list(POLLING))
def test_a_polling_trigger_renders_one_replica_without_a_service_or_scaler(kind: str) -> None:
    scaling = "  scaling: {minReplicas: 2, maxReplicas: 5, cpuUtilization: 50}\n"
    flow = compiled(POLLING[kind], scaling)
    objects = render(RenderInput(flow, "shop", RenderSettings()))
    validate_all(objects)
    kinds = {obj["kind"] for obj in objects}
    assert "Deployment" in kinds
    assert not kinds & {"Service", "CronJob", "HorizontalPodAutoscaler", "ScaledObject"}
    deployment = rendered(flow)["Deployment"]
    assert deployment["spec"]["replicas"] == 1
    command = deployment["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[:2] == ["weir", "serve"] or "serve" in command
