"""The console in the Helm chart (Helm's engine through its SDK): on by default with SQLite on a
PersistentVolumeClaim, PostgreSQL by URL (in a Secret the chart makes) or by an existing Secret,
more than one replica only with PostgreSQL, the runners pointed at it through the operator, and
RBAC granting exactly what the console's code asks of the API server."""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy.test_chart import by_kind, consoles, grants, operators, render_chart
from weir.operator.settings import RenderSettings

URL = "http://weir-console.weir-system.svc:8090"


def container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = consoles(objects, "Deployment")
    (found,) = deployment["spec"]["template"]["spec"]["containers"]
    assert isinstance(found, dict)
    return found


def operator_env(objects: list[dict[str, Any]]) -> dict[str, str]:
    (deployment,) = operators(objects, "Deployment")
    (found,) = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value", "") for e in found["env"]}


def test_the_console_is_on_by_default_with_sqlite_on_a_volume_claim() -> None:
    objects = render_chart()
    console = container(objects)
    assert console["image"].startswith("ghcr.io/weir-dev/weir-console:")  # Dockerfile.console
    assert console["command"] == [
        "weir", "console", "--kube", "--host=0.0.0.0", "--port=8090",
        "--retain-days=30", "--retain-per-flow=10000",
    ]  # fmt: skip
    env = {e["name"]: e.get("value") for e in console["env"]}
    assert env["WEIR_STORE"] == "sqlite:////var/lib/weir-console/console.db"
    mounts = {m["name"]: m["mountPath"] for m in console["volumeMounts"]}
    assert mounts["data"] == "/var/lib/weir-console"
    assert console["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert console["securityContext"]["readOnlyRootFilesystem"]
    (claim,) = by_kind(objects, "PersistentVolumeClaim")
    assert claim["spec"]["resources"]["requests"]["storage"] == "5Gi"
    (deployment,) = consoles(objects, "Deployment")
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}  # one SQLite writer
    (service,) = consoles(objects, "Service")
    assert service["spec"]["ports"][0]["port"] == 8090
    # Runner pods get the console's URL through the operator.
    env = operator_env(objects)
    assert env["WEIR_CONSOLE_URL"] == URL
    assert RenderSettings.from_env(env).console_url == URL


def test_postgresql_by_url_goes_in_a_secret_and_needs_no_volume() -> None:
    objects = render_chart(
        {"console": {"store": {"url": "postgresql://weir:pw@db/weir"}, "replicas": 2}}
    )
    (secret,) = by_kind(objects, "Secret")
    assert secret["stringData"] == {"url": "postgresql://weir:pw@db/weir"}
    console = container(objects)
    (store,) = [e for e in console["env"] if e["name"] == "WEIR_STORE"]
    ref = {"name": secret["metadata"]["name"], "key": "url"}
    assert store == {"name": "WEIR_STORE", "valueFrom": {"secretKeyRef": ref}}
    assert by_kind(objects, "PersistentVolumeClaim") == []
    (deployment,) = consoles(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert "pw" not in str(deployment)
    existing = container(render_chart({"console": {"store": {"existingSecret": "db/dsn"}}}))
    (store,) = [e for e in existing["env"] if e["name"] == "WEIR_STORE"]
    assert store["valueFrom"]["secretKeyRef"] == {"name": "db", "key": "dsn"}


def test_bad_console_values_are_refused_naming_them() -> None:
    import helm_python as helm

    for bad, where in [
        ({"console": {"replicas": 2}}, "needs a PostgreSQL store"),
        ({"console": {"store": {"url": "mysql://x"}}}, "url"),
        ({"console": {"store": {"existingSecret": "no-key"}}}, "existingSecret"),
        ({"console": {"persistence": {"size": "lots"}}}, "size"),
        ({"console": {"enable": True}}, "enable"),
    ]:
        with pytest.raises(helm.HelmError, match=where):
            render_chart(bad)


def test_without_the_console_nothing_of_it_is_rendered() -> None:
    objects = render_chart({"console": {"enabled": False}})
    assert [o for o in objects if o["metadata"]["name"].startswith("weir-console")] == []
    assert "WEIR_CONSOLE_URL" not in operator_env(objects)


CONSOLE_NEEDS = {
    # weir.console.cluster_runs: start (create; read the Flow; name the execution in the
    # status), cancel (list, mark Cancelled, delete the Job); flows.ClusterFlows: read Flows.
    ("weir.dev", "flowruns", "create"), ("weir.dev", "flowruns", "get"),
    ("weir.dev", "flowruns", "list"), ("weir.dev", "flowruns", "watch"),
    ("weir.dev", "flowruns", "delete"), ("weir.dev", "flowruns/status", "patch"),
    ("batch", "jobs", "delete"),
    ("weir.dev", "flows", "get"), ("weir.dev", "flows", "list"), ("weir.dev", "flows", "watch"),
}  # fmt: skip
REVIEWS = {
    ("authentication.k8s.io", "tokenreviews", "create"),
    ("authorization.k8s.io", "subjectaccessreviews", "create"),
}


def test_the_consoles_rbac_grants_the_reviews_and_what_it_does_with_flows() -> None:
    (role,) = consoles(render_chart(), "ClusterRole")
    assert grants(role) == CONSOLE_NEEDS | REVIEWS | {("", "namespaces", "list")}
    (binding,) = consoles(render_chart(), "ClusterRoleBinding")
    assert binding["subjects"][0]["name"] == "weir-console"


def test_a_namespaced_console_serves_the_watched_namespaces_with_roles_there() -> None:
    objects = render_chart({"watchNamespaces": ["team-a", "team-b"]})
    command = container(objects)["command"]
    assert "--namespace=team-a" in command and "--namespace=team-b" in command
    (cluster_role,) = consoles(objects, "ClusterRole")
    assert grants(cluster_role) == REVIEWS  # no list of namespaces: it is given them
    roles = consoles(objects, "Role")
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["team-a", "team-b"]
    assert all(grants(r) == CONSOLE_NEEDS for r in roles)
