"""Rendering a Flow into runner manifests (pure): every trigger kind and every example renders
objects that validate for Kubernetes 1.30 to 1.37, with the restricted securityContext, probes,
secret mounts, checksums that roll out changes, owner references, suspend and scaling."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.manifests import validate as validate_manifest
from weir.flow.load import CompiledFlow, load_flow_file, load_flows_text
from weir.flow.secretref import FlowSecretRefSpec
from weir.operator.render import Owner, RenderInput, render, render_flowrun_job, to_yaml
from weir.operator.settings import RenderSettings

ROOT = Path(__file__).parents[2]
VERSIONS = [f"1.{minor}.0" for minor in range(30, 38)]
BUILTIN_API_GROUPS = ("v1", "apps/v1", "batch/v1", "rbac.authorization.k8s.io/v1", "autoscaling/v2")

TRIGGERS = {
    "rest": "{rest: {path: /orders}}",
    "mcp": "{mcp: {tool: lookup}}",
    "rabbitmq": "{rabbitmq: {url: {secret: broker, key: url}, queue: orders}}",
    "cron": "{cron: {schedule: '*/5 * * * *', timeZone: Europe/Madrid, startingDeadline: 2m}}",
    "manual": "{manual: {}}",
}


def flow_text(trigger: str, extra: str = "") -> str:
    return (
        "apiVersion: weir.dev/v1alpha1\nkind: Flow\nmetadata: {name: orders}\nspec:\n"
        f"  trigger: {trigger}\n  secrets: [{{name: broker, flowSecretRef: amqp}}]\n{extra}"
        "  nodes:\n    - name: a\n      log: {message: hi}\n"
    )


def compiled(trigger: str, extra: str = "") -> CompiledFlow:
    return load_flows_text(flow_text(TRIGGERS.get(trigger, trigger), extra))[0]


def rendered(flow: CompiledFlow, **kwargs: Any) -> dict[str, dict[str, Any]]:
    objects = render(RenderInput(flow, "shop", RenderSettings(), **kwargs))
    return {obj["kind"]: obj for obj in objects}


def validate_all(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        if obj["apiVersion"] in BUILTIN_API_GROUPS:
            for version in VERSIONS:
                validate_manifest(obj, version)


@pytest.mark.parametrize("trigger", list(TRIGGERS))
def test_each_trigger_kind_renders_valid_objects(trigger: str) -> None:
    objects = render(
        RenderInput(compiled(trigger), "shop", RenderSettings(), owner=Owner("orders", "uid-1"))
    )
    validate_all(objects)
    kinds = {obj["kind"] for obj in objects}
    assert {"ConfigMap", "ServiceAccount", "Role", "RoleBinding"} <= kinds
    assert ("Deployment" in kinds) == (trigger in ("rest", "mcp", "rabbitmq"))
    assert ("Service" in kinds) == (trigger in ("rest", "mcp"))
    assert ("CronJob" in kinds) == (trigger == "cron")
    for obj in objects:
        assert obj["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
        assert obj["metadata"]["labels"]["app.kubernetes.io/instance"] == "orders"


def pod_spec(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    if "Deployment" in objects:
        spec: dict[str, Any] = objects["Deployment"]["spec"]["template"]["spec"]
    else:
        spec = objects["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return spec


@pytest.mark.parametrize("trigger", ["rest", "cron"])
def test_runners_run_restricted(trigger: str) -> None:
    spec = pod_spec(rendered(compiled(trigger)))
    (container,) = spec["containers"]
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}


def test_a_long_lived_runner_has_probes_metrics_and_serves_the_flow_file() -> None:
    objects = rendered(compiled("rest"))
    template = objects["Deployment"]["spec"]["template"]
    (container,) = template["spec"]["containers"]
    assert container["command"][:3] == ["weir", "serve", "/etc/weir/flow/flow.yaml"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert template["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    flow_file = yaml.safe_load(objects["ConfigMap"]["data"]["flow.yaml"])
    assert flow_file["kind"] == "Flow" and flow_file["spec"]["trigger"] == {
        "rest": {
            "path": "/orders",
            "methods": ["POST"],
            "mode": "sync",
            "soap": False,
            "maxBodySize": 1048576,
        }
    }


def test_the_config_map_holds_a_flow_the_runner_loads(tmp_path: Path) -> None:
    objects = rendered(compiled("rest"))
    path = tmp_path / "flow.yaml"
    path.write_text(objects["ConfigMap"]["data"]["flow.yaml"])
    loaded = load_flow_file(path).flow.spec.model_dump(mode="json")
    assert loaded == compiled("rest").flow.spec.model_dump(mode="json")


def test_a_spec_change_changes_the_rollout_checksum() -> None:
    before = rendered(compiled("rest"))["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    after = rendered(compiled("rest", "  timeout: 10s\n"))["Deployment"]["spec"]["template"][
        "metadata"
    ]["annotations"]
    assert before["weir.dev/flow-checksum"] != after["weir.dev/flow-checksum"]


def test_secrets_are_mounted_as_files_with_renamed_keys() -> None:
    ref = FlowSecretRefSpec.model_validate(
        {"secretName": "rabbit-creds", "keys": [{"key": "url", "secretKey": "AMQP_URL"}]}
    )
    objects = rendered(compiled("rabbitmq"), secret_refs={"amqp": ref}, secrets_checksum="abc")
    spec = pod_spec(objects)
    volume = next(v for v in spec["volumes"] if v["name"] == "secret-broker")
    assert volume["secret"] == {
        "secretName": "rabbit-creds",
        "items": [{"key": "AMQP_URL", "path": "url"}],
    }
    mount = next(m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "secret-broker")
    assert mount == {
        "name": "secret-broker",
        "mountPath": "/etc/weir/secrets/broker",
        "readOnly": True,
    }
    env = {e["name"]: e for e in spec["containers"][0]["env"]}
    assert env["WEIR_AMQP_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "rabbit-creds",
        "key": "AMQP_URL",
    }
    annotations = objects["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["weir.dev/secrets-checksum"] == "abc"


def test_suspend_scales_to_zero_or_suspends_the_cron_job() -> None:
    assert rendered(compiled("rest", "  suspend: true\n"))["Deployment"]["spec"]["replicas"] == 0
    assert rendered(compiled("cron", "  suspend: true\n"))["CronJob"]["spec"]["suspend"] is True


def test_the_cron_job_carries_the_schedule_settings() -> None:
    cron = rendered(compiled("cron"))["CronJob"]["spec"]
    assert cron["schedule"] == "*/5 * * * *" and cron["timeZone"] == "Europe/Madrid"
    assert cron["concurrencyPolicy"] == "Forbid" and cron["startingDeadlineSeconds"] == 120
    assert cron["successfulJobsHistoryLimit"] == 3 and cron["failedJobsHistoryLimit"] == 1
    command = cron["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[-3:] == ["--trigger", "cron", "--quiet"]


def test_rabbitmq_scaling_renders_a_keda_scaled_object() -> None:
    objects = rendered(
        compiled("rabbitmq", "  scaling: {minReplicas: 1, maxReplicas: 5, queueLength: 50}\n")
    )
    scaled = objects["ScaledObject"]["spec"]
    assert (
        scaled["maxReplicaCount"] == 5
        and scaled["triggers"][0]["metadata"]["queueName"] == "orders"
    )


def test_cpu_scaling_renders_an_hpa() -> None:
    objects = rendered(
        compiled("rest", "  scaling: {minReplicas: 2, maxReplicas: 4, cpuUtilization: 60}\n")
    )
    assert objects["HorizontalPodAutoscaler"]["spec"]["minReplicas"] == 2
    assert objects["HorizontalPodAutoscaler"]["spec"]["maxReplicas"] == 4
    assert "replicas" not in objects["Deployment"]["spec"]  # the HPA's to set


def test_fixed_scaling_without_a_target_sets_the_replicas() -> None:
    objects = rendered(compiled("rest", "  scaling: {minReplicas: 3, maxReplicas: 3}\n"))
    assert "HorizontalPodAutoscaler" not in objects
    assert objects["Deployment"]["spec"]["replicas"] == 3


def test_the_runner_may_only_touch_its_own_flow() -> None:
    role = rendered(compiled("rest"))["Role"]
    for rule in role["rules"]:
        # FlowRuns (`weir flowrun` reads one and writes its status) have names not known in
        # advance: those two rules name none.
        if rule["resources"] in (["flowruns"], ["flowruns/status"]):
            assert set(rule["verbs"]) <= {"get", "patch"}
            continue
        assert rule["resourceNames"] == ["orders"]
        assert set(rule["verbs"]) <= {"get", "patch"}


def test_a_flowrun_job_is_named_after_its_flowrun() -> None:
    # Manual runs are FlowRuns now (weir.dev/run creates one named after the token, and the
    # FlowRun's Job takes its name): the Job is named after the FlowRun, not the token.
    data = RenderInput(compiled("manual"), "shop", RenderSettings(), owner=Owner("orders", "u"))
    first = render_flowrun_job(data, Owner("t-1", "u1", kind="FlowRun"))
    again = render_flowrun_job(data, Owner("t-1", "u1", kind="FlowRun"))
    other = render_flowrun_job(data, Owner("t-2", "u2", kind="FlowRun"))
    assert first["metadata"]["name"] == again["metadata"]["name"] != other["metadata"]["name"]
    validate_all([first])


def test_weir_render_prints_valid_manifests() -> None:
    example = ROOT / "examples" / "webhook-echo" / "flow.yaml"
    done = subprocess.run(
        [sys.executable, "-m", "weir.cli", "render", str(example)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    objects = [o for o in yaml.safe_load_all(done.stdout) if o]
    assert {o["kind"] for o in objects} >= {"Deployment", "Service", "ConfigMap"}
    validate_all(objects)


@pytest.mark.parametrize(
    "example", sorted(p.parent.name for p in ROOT.glob("examples/*/flow.yaml"))
)
def test_every_example_renders_valid_manifests(example: str) -> None:
    # What `weir render` prints (above), in this process: one subprocess per example cost 20 s.
    flow = load_flow_file(ROOT / "examples" / example / "flow.yaml")
    objects = [
        o
        for o in yaml.safe_load_all(to_yaml(render(RenderInput(flow, "default", RenderSettings()))))
        if o
    ]
    assert objects, example
    validate_all(objects)


def test_a_flow_name_at_the_maximum_length_keeps_every_name_and_label_within_63() -> None:
    text = flow_text(TRIGGERS["rest"]).replace("name: orders", "name: " + "o" * 47)
    flow = load_flows_text(text)[0]
    data = RenderInput(flow, "shop", RenderSettings(), owner=Owner(flow.name, "uid-1"))
    flowrun = Owner("weir-" + "o" * 47 + "-run-abcdef", "uid-2", kind="FlowRun")
    objects = [*render(data), render_flowrun_job(data, flowrun)]
    for obj in objects:
        assert len(obj["metadata"]["name"]) <= 63, obj["metadata"]["name"]
        for value in obj["metadata"]["labels"].values():
            assert len(value) <= 63
    job = objects[-1]
    assert job["metadata"]["name"].startswith("weir-" + "o" * 47 + "-run-")


def test_file_nodes_are_confined_to_a_volume_of_their_own_unless_the_flow_says_otherwise() -> None:
    pod = pod_spec(rendered(compiled("rest")))
    (container,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["WEIR_FILE_BASE_DIR"] == "/var/lib/weir-files"
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts["/var/lib/weir-files"] == "files"
    widened = pod_spec(
        rendered(compiled("rest", "  runner: {env: {WEIR_FILE_BASE_DIR: /data, HOME: /h}}\n"))
    )
    names = [e["name"] for e in widened["containers"][0]["env"]]
    assert len(names) == len(set(names))
    env = {e["name"]: e.get("value") for e in widened["containers"][0]["env"]}
    assert env["WEIR_FILE_BASE_DIR"] == "/data" and env["HOME"] == "/h"
