"""The Helm chart, rendered by a real Helm engine (Helm's Go SDK through helm-python-sdk): every
object validates for Kubernetes 1.30 to 1.37 in cluster-wide and namespaced mode, the chart's
CRDs are the generated ones, values are checked by the schema, and the operator's RBAC grants
exactly the API calls the operator makes — derived from what it renders and watches."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.manifests import validate as validate_manifest
from tests.operator.test_render import TRIGGERS, compiled
from weir.kube.client import PLURALS
from weir.operator.render import Owner, RenderInput, render, render_flowrun_job
from weir.operator.settings import RenderSettings

ROOT = Path(__file__).parents[2]
CHART = ROOT / "charts" / "weir"
VERSIONS = [f"1.{minor}.0" for minor in range(30, 38)]
MONITORING = "monitoring.coreos.com/v1"
Triple = tuple[str, str, str]


def render_chart(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    import helm_python as helm

    with helm.Chart.load(str(CHART)) as chart:
        chart.validate_schema(values or {})
        manifests = chart.render(
            values or {}, name="weir", namespace="weir-system", is_install=True
        )
    return [
        document
        for path, text in sorted(manifests.items())
        if path.endswith(".yaml")
        for document in yaml.safe_load_all(text)
        if document
    ]


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def component(obj: dict[str, Any]) -> str:
    return str((obj["metadata"].get("labels") or {}).get("app.kubernetes.io/component", ""))


def operators(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The operator's objects of a kind: not the console's (its own Deployment and RBAC)."""
    return [o for o in by_kind(objects, kind) if component(o) != "console"]


def consoles(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in by_kind(objects, kind) if component(o) == "console"]


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"watchNamespaces": ["team-a", "team-b"]},
        {"metrics": {"serviceMonitor": {"enabled": True}, "podMonitor": {"enabled": True}}},
        {"runner": {"storeSecret": "weir-store/url"}, "podDisruptionBudget": {"enabled": False}},
    ],
    ids=["defaults", "namespaced", "monitors", "store-secret"],
)
def test_every_rendered_object_validates_for_kubernetes_1_30_to_1_37(
    values: dict[str, Any],
) -> None:
    objects = render_chart(values)
    assert by_kind(objects, "Deployment")
    for obj in objects:
        if obj["apiVersion"] == MONITORING:
            assert obj["spec"].get("endpoints") or obj["spec"].get("podMetricsEndpoints")
            continue
        if obj["apiVersion"] == "kopf.dev/v1":  # a peering: tests/kube applies it for real
            assert obj["kind"] in ("ClusterKopfPeering", "KopfPeering")
            continue
        for version in VERSIONS:
            validate_manifest(obj, version)


def test_the_operator_runs_restricted_with_probes_and_runner_defaults() -> None:
    (deployment,) = operators(render_chart({"runner": {"storeSecret": "db/url"}}), "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"][:3] == ["weir", "operator", "--all-namespaces"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] and not security["allowPrivilegeEscalation"]
    assert security["capabilities"] == {"drop": ["ALL"]} and security["runAsNonRoot"]
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["WEIR_RUNNER_IMAGE"] == "ghcr.io/weir-dev/weir-runner:0.1.0"
    assert env["WEIR_RUNNER_STORE_SECRET"] == "db/url"
    assert RenderSettings.from_env(env).store_secret == ("db", "url")


def test_namespaced_mode_watches_only_the_listed_namespaces() -> None:
    objects = render_chart({"watchNamespaces": ["team-a", "team-b"]})
    (deployment,) = operators(objects, "Deployment")
    command = deployment["spec"]["template"]["spec"]["containers"][0]["command"]
    assert "--namespace=team-a" in command and "--namespace=team-b" in command
    assert "--all-namespaces" not in command
    assert sorted(r["metadata"]["namespace"] for r in operators(objects, "Role")) == [
        "team-a",
        "team-b",
    ]
    # kopf's scanning is off: nothing cluster-wide (the console's reviews are cluster-wide).
    assert operators(objects, "ClusterRole") == []
    peerings = by_kind(objects, "KopfPeering")
    assert sorted(p["metadata"]["namespace"] for p in peerings) == ["team-a", "team-b"]
    assert "--peering=weir-operator" in command


def test_the_charts_crds_are_the_generated_ones() -> None:
    generated = sorted(p.name for p in (ROOT / "crds").glob("*.yaml"))
    assert sorted(p.name for p in (CHART / "crds").glob("*.yaml")) == generated
    for name in generated:
        same = (CHART / "crds" / name).read_bytes() == (ROOT / "crds" / name).read_bytes()
        assert same, f"charts/weir/crds/{name} differs from crds/{name}: run `make crds`"


def test_the_values_schema_refuses_bad_values() -> None:
    import helm_python as helm

    for bad, where in [
        ({"watchNamespaces": "team-a"}, "watchNamespaces"),
        ({"image": {"repository": "x", "pullPolicy": "Sometimes"}}, "pullPolicy"),
        ({"runner": {"storeSecret": "no-key"}}, "storeSecret"),
        ({"replicas": 0}, "replicas"),
    ]:
        with pytest.raises(helm.HelmError, match=where):
            render_chart(bad)


# RBAC: what the operator needs, derived from the code.


def grants(role: dict[str, Any]) -> set[Triple]:
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def group_of(api_version: str) -> str:
    return api_version.rpartition("/")[0]


def rendered_kinds() -> Iterator[tuple[str, str]]:
    """(group, plural) of everything the operator applies: every trigger kind, with and without
    scaling, and a manual run's Job."""
    flows = [compiled(trigger) for trigger in TRIGGERS]
    flows.append(
        compiled("rabbitmq", "  scaling: {minReplicas: 0, maxReplicas: 5, queueLength: 20}\n")
    )
    flows.append(
        compiled("rest", "  scaling: {minReplicas: 1, maxReplicas: 5, cpuUtilization: 70}\n")
    )
    for flow in flows:
        data = RenderInput(flow, "shop", RenderSettings())
        objects = [*render(data)]
        if flow.flow.spec.trigger.manual is not None:
            objects.append(render_flowrun_job(data, Owner("run-1", "u1", kind="FlowRun")))
        for obj in objects:
            yield group_of(obj["apiVersion"]), PLURALS[obj["kind"]]


def cluster_scoped_needs() -> set[Triple]:
    # kopf follows the CustomResourceDefinitions of the resources it serves (list, watch);
    # leader election: kopf watches its peering object and patches its status.
    needs = {("apiextensions.k8s.io", "customresourcedefinitions", v) for v in ("list", "watch")}
    return needs | {
        ("kopf.dev", "clusterkopfpeerings", v) for v in ("get", "list", "watch", "patch")
    }


def namespaced_needs() -> set[Triple]:
    needs: set[Triple] = set()
    for group, plural in rendered_kinds():  # apply: get, then create or patch; stale: delete
        needs |= {(group, plural, verb) for verb in ("get", "create", "patch")}
        if plural != "jobs":  # FlowRuns' Jobs are never deleted: they go with their FlowRun
            needs.add((group, plural, "delete"))
    # kopf handlers: list and watch what they observe, patch their annotations and status.
    for group, plural in [
        ("weir.dev", "flows"), ("weir.dev", "flowsecretrefs"), ("weir.dev", "flowruns")
    ]:  # fmt: skip
        needs |= {(group, plural, v) for v in ("get", "list", "watch", "patch")}
        needs.add((group, f"{plural}/status", "patch"))
    # FlowRuns: created for a weir.dev/run annotation, deleted after their TTL; their Jobs
    # (owned by them, blockOwnerDeletion) are watched to notice one that failed.
    needs |= {("weir.dev", "flowruns", v) for v in ("create", "delete")}
    needs.add(("weir.dev", "flowruns/finalizers", "update"))
    needs |= {("batch", "jobs", v) for v in ("list", "watch")}
    needs.add(("weir.dev", "flows/status", "get"))  # held because runner Roles grant it
    needs |= {("apps", "deployments", v) for v in ("list", "watch")}  # readiness from the runner
    needs |= {("", "secrets", "get")}  # FlowSecretRef checks and polling, by name
    needs |= {("weir.dev", "flows/finalizers", "update")}  # blockOwnerDeletion on owner refs
    needs |= {("", "events", "create")}  # kopf.warn / handler events
    return needs


def test_every_rendered_kind_is_known_to_the_api_client() -> None:
    assert {plural for _, plural in rendered_kinds()} <= set(PLURALS.values())


def test_cluster_wide_rbac_grants_exactly_what_the_operator_does() -> None:
    (role,) = operators(render_chart(), "ClusterRole")
    granted, needed = grants(role), namespaced_needs() | cluster_scoped_needs()
    assert needed - granted == set(), "missing permissions"
    assert granted - needed == set(), "permissions the operator never uses"


def test_namespaced_rbac_grants_exactly_what_the_operator_does() -> None:
    peering = {("kopf.dev", "kopfpeerings", v) for v in ("get", "list", "watch", "patch")}
    for role in operators(render_chart({"watchNamespaces": ["team-a"]}), "Role"):
        assert grants(role) == namespaced_needs() | peering


def test_the_operator_holds_what_it_grants_runners() -> None:
    # RBAC forbids granting permissions one does not hold (escalation).
    (role,) = operators(render_chart(), "ClusterRole")
    for obj in render(RenderInput(compiled("rest"), "shop", RenderSettings())):
        if obj["kind"] == "Role":
            for rule in obj["rules"]:
                for group in rule["apiGroups"]:
                    for resource in rule["resources"]:
                        for verb in rule["verbs"]:
                            assert (group, resource, verb) in grants(role)
