"""Issue 14's first acceptance, on the real kube-apiserver: a REST Flow and a cron Flow, their
Deployment and CronJob rendered by the operator under the chart's RBAC; the console as the chart
deploys it (`weir console --kube`, its ServiceAccount's rights) and the runners from their
rendered pod templates (a CronJob's job run by hand several times, as its schedule would) run as
local processes, each runner on a local SQLite store standing for its pod's emptyDir.

Under HTTP load on the REST runner the console is killed (-9) and restarted on its store, then
the runner is killed (-9) and restarted on its local store; in the end the console lists every
execution the runner recorded exactly once, every answered request among them, every cron run
too, and none is left running.
"""

from __future__ import annotations

import functools
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.kube.console_harness import Load, RunnerProcess, chart_console, listed
from tests.kube.controlplane import ControlPlane
from tests.kube.operator_harness import (
    Api,
    Installation,
    OperatorProcess,
    child,
    eventually,
    flow,
)
from tests.test_cli_server import Console

pytestmark = pytest.mark.timeout(300)
RELEASE = "weir-ship"
REST, CRON = "orders", "nightly"
CRON_RUNS = 4
ANSWERED = 300
"""At least this many requests answered under load."""


def reader(plane: ControlPlane, api: Api, namespace: str) -> dict[str, str]:
    """Headers of a user who may get flows in the namespace: the console lists its executions."""
    rbac = "rbac.authorization.k8s.io/v1"
    meta = {"name": "reader"}
    api.create({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}, namespace)
    rules = [{"apiGroups": ["weir.dev"], "resources": ["flows"], "verbs": ["get", "list"]}]
    api.create({"apiVersion": rbac, "kind": "Role", "metadata": meta, "rules": rules}, namespace)
    api.create(
        {
            "apiVersion": rbac, "kind": "RoleBinding", "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}],
        },
        namespace,
    )  # fmt: skip
    return {"Authorization": f"Bearer {plane.request_token(namespace, 'reader')}"}


def load_with_kills(
    runner: RunnerProcess, console: Console, cron_pods: list[RunnerProcess], log: Path
) -> tuple[Load, int]:
    """Load on the REST runner, cron runs by hand, the console killed and restarted, then the
    runner; the load and how many requests were answered when the runner was killed."""
    load = Load(f"{runner.url}/orders")
    load.start()
    try:
        cron_pods[0].start()  # a cron run while the console is up
        eventually(lambda: load.count() >= 60, "answers before the console is killed", 20)
        assert console.process is not None
        console.process.kill()
        console.process.wait(10)
        at_console_kill = load.count()
        # A cron run that finishes while the console is down: `weir run` waits to ship it.
        cron_pods[1].start()
        eventually(cron_pods[1].recorded, "a cron run recorded, the console down", 30)
        eventually(lambda: load.count() >= at_console_kill + 50, "answers, the console down", 20)
        console.start(log)
        for pod in cron_pods[2:]:
            pod.start()
        eventually(lambda: load.count() >= at_console_kill + 150, "answers after the restart", 20)
        runner.kill()
        at_runner_kill = load.count()
        runner.start()
        runner.wait_ready()
        eventually(lambda: load.count() >= max(ANSWERED, at_runner_kill + 60), "answers", 30)
    finally:
        load.stop()
    return load, at_runner_kill


def test_runners_from_their_pod_templates_ship_every_execution_across_kills(
    controlplane: ControlPlane, api: Api, installation: Installation,
    operator: OperatorProcess, tmp_path: Path,
) -> None:  # fmt: skip
    namespace = api.new_namespace("shipping")
    api.create(flow(REST, {"rest": {"path": "/orders"}}), namespace)
    api.create(flow(CRON, {"cron": {"schedule": "0 3 1 1 *"}}), namespace)  # never due here

    def rendered(kind: str, name: str) -> Any:
        found = functools.partial(child, api, namespace, kind, name)
        return eventually(found, f"the {kind} of {name}", explain=operator.tail)

    deployment, cron_job = rendered("Deployment", REST), rendered("CronJob", CRON)
    for name in (REST, CRON):  # the runners' tokens act with the rendered Role
        rendered("RoleBinding", name)
    user = reader(controlplane, api, namespace)

    console = chart_console(controlplane, installation, tmp_path)

    def runner_pod(owner: dict[str, Any], template: dict[str, Any], name: str) -> RunnerProcess:
        return RunnerProcess(
            controlplane, api, namespace, owner, template, tmp_path / name, console.url
        )

    runner = runner_pod(deployment, deployment["spec"]["template"], "rest-pod")
    job_template = cron_job["spec"]["jobTemplate"]["spec"]["template"]
    cron_pods = [runner_pod(cron_job, job_template, f"cron-pod-{n}") for n in range(CRON_RUNS)]
    try:
        console.start(tmp_path / "console.log")
        runner.start()
        runner.wait_ready()
        load, at_runner_kill = load_with_kills(runner, console, cron_pods, tmp_path / "console.log")
        assert load.errors == [], load.errors[:5]
        cron_exits = [pod.wait(90) for pod in cron_pods]
        assert cron_exits == [0] * CRON_RUNS, [pod.tail() for pod in cron_pods]
        answered = load.answered
        assert len(answered) == len(set(answered)) >= ANSWERED
        assert at_runner_kill < len(answered)  # the runner was killed mid-load

        def shipped() -> Any:
            recorded = runner.recorded()
            items = listed(console.url, user, namespace, REST)
            ids = {item["id"] for item in items}
            done = all(item["status"] != "running" for item in items)
            return done and ids == set(recorded) and items

        items = eventually(shipped, "every recorded execution listed, finished", 30,
                           explain=runner.tail)  # fmt: skip
        counted = Counter(item["id"] for item in items)
        assert [i for i, n in counted.items() if n > 1] == []  # each once
        # Nothing answered is lost: neither by the console's kill nor by the runner's.
        assert set(answered) <= set(counted)
        statuses = {item["id"]: item["status"] for item in items}
        assert {statuses[i] for i in answered} == {"succeeded"}
        # What was in flight when the runner was killed is interrupted, never left running.
        assert set(statuses.values()) <= {"succeeded", "interrupted"}
        assert {item["namespace"] for item in items} == {namespace}

        cron_ids = {i for pod in cron_pods for i in pod.recorded()}
        cron_items = listed(console.url, user, namespace, CRON)
        assert len(cron_ids) == CRON_RUNS
        assert sorted(item["id"] for item in cron_items) == sorted(cron_ids)
        assert {(item["status"], item["triggerKind"]) for item in cron_items} == {
            ("succeeded", "cron")
        }
    finally:
        for process in [runner, *cron_pods]:
            process.stop()
        console.stop()
        api.delete("Namespace", None, namespace)
