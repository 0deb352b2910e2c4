"""FlowRuns on the real kube-apiserver with kube-controller-manager, the operator under the
chart's RBAC: the operator makes a FlowRun's Job from the Flow's runner pod, and the test plays
the kubelet by running that Job's container command as a local process, with the container's
environment and the token of the runner's ServiceAccount (so the runner acts with exactly the
rights the rendered Role grants it). The FlowRun reaches Succeeded with its result, or Failed
with the error; a Pod that fails without its runner reporting fails the run through the Job
controller; a finished run is deleted after its TTL; a replay with a patched input succeeds
where the original failed; the console's ClusterRuns starts runs under the id it answers and
cancels them (Cancelled, the Job deleted).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.kube.controlplane import ControlPlane
from tests.kube.operator_harness import (
    Api,
    OperatorProcess,
    eventually,
)
from weir.console.cluster_runs import ClusterRuns
from weir.console.runs import UnknownFlow
from weir.kube.client import Kube
from weir.store.records import ExecutionRecord, Status

pytestmark = pytest.mark.timeout(300)
RELEASE = "weir-fr"
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "flowrun"
FLOW = "invoice-total"
Wait = Callable[..., Any]


@pytest.fixture
def wait(operator: OperatorProcess) -> Wait:
    def waiting(check: Callable[[], Any], what: str, deadline: float = 60.0) -> Any:
        return eventually(check, what, deadline, explain=operator.tail)

    return waiting


@pytest.fixture(scope="module")
def namespace(api: Api, operator: OperatorProcess) -> Iterator[str]:
    """One namespace with the example Flow, reconciled (its runner's ServiceAccount exists)."""
    name = api.new_namespace("flowruns")
    api.create(yaml.safe_load((EXAMPLE / "flow.yaml").read_text()), name)
    eventually(
        lambda: api.get("RoleBinding", name, f"weir-{FLOW}"), "the runner's RBAC", 60.0,
        explain=operator.tail,
    )  # fmt: skip
    yield name
    api.delete("Namespace", None, name)


def pending_job(api: Api, namespace: str, name: str, wait: Wait) -> dict[str, Any]:
    """The FlowRun's Job, once the FlowRun is Pending with it (the operator's part done)."""
    job: dict[str, Any] = wait(lambda: api.get("Job", namespace, name), f"the Job of {name}")
    wait(phase(api, namespace, name, "Pending"), f"{name} Pending")
    return job


def create_flowrun(api: Api, namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    body = {
        "apiVersion": "weir.dev/v1alpha1",
        "kind": "FlowRun",
        "metadata": {"name": name},
        "spec": {"flowRef": FLOW, **spec},
    }
    created: dict[str, Any] = api.create(body, namespace)
    return created


def phase(api: Api, namespace: str, name: str, *phases: str) -> Callable[[], Any]:
    def check() -> Any:
        found = api.get("FlowRun", namespace, name)
        if found and (found.get("status") or {}).get("phase") in phases:
            return found
        return None

    return check


def job_process(
    controlplane: ControlPlane, api: Api, namespace: str, job: dict[str, Any], workdir: Path
) -> tuple[list[str], dict[str, str]]:
    """The Job's container as a local process: its command and environment, the Flow's
    ConfigMap as the mounted flow file, and a kubeconfig with the pod's ServiceAccount token
    (WEIR_CONSOLE_TOKEN too: the token a pod would send the console)."""
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    flow = job["metadata"]["labels"]["weir.dev/flow"]
    config_map = api.get("ConfigMap", namespace, f"weir-{flow}")
    flow_file = workdir / "flow.yaml"
    flow_file.write_text(config_map["data"]["flow.yaml"])
    command = [
        str(flow_file) if a == "/etc/weir/flow/flow.yaml" else a for a in container["command"]
    ]
    assert command[0] == "weir", command  # weir flowrun, or a Deployment's or CronJob's pod
    fields = {"metadata.namespace": namespace, "metadata.name": f"{job['metadata']['name']}-pod"}
    env = {}
    for entry in container["env"]:
        if "value" in entry:
            env[entry["name"]] = entry["value"]
        else:
            env[entry["name"]] = fields[entry["valueFrom"]["fieldRef"]["fieldPath"]]
    token = controlplane.request_token(namespace, pod["serviceAccountName"])
    kubeconfig = controlplane.write_kubeconfig(workdir / "runner.kubeconfig", token)
    env |= {
        "KUBECONFIG": str(kubeconfig),
        "WEIR_CONSOLE_TOKEN": token,
        "WEIR_STORE": f"sqlite:///{workdir}/executions.db",
        "WEIR_SECRETS_DIR": str(workdir / "secrets"),
        "WEIR_FILE_BASE_DIR": str(workdir),
        "HOME": str(workdir),
        "TMPDIR": str(workdir),
        "PATH": os.environ["PATH"],
        "WEIR_REPORT_INTERVAL": "0",
    }
    # The chart's console is not reachable from here: a test that has one gives its URL.
    env.pop("WEIR_CONSOLE_URL", None)
    return [sys.executable, "-m", "weir.cli", *command[1:]], env


def run_job_as_kubelet(
    controlplane: ControlPlane, api: Api, namespace: str, job: dict[str, Any], workdir: Path
) -> subprocess.CompletedProcess[str]:
    argv, env = job_process(controlplane, api, namespace, job, workdir)
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_a_flowrun_succeeds_with_its_result_run_from_its_rendered_job(
    controlplane: ControlPlane, api: Api, namespace: str, wait: Wait, tmp_path: Path
) -> None:
    created = create_flowrun(api, namespace, "invoice-1", input={"customer": "ACME", "amount": 120})
    job = wait(lambda: api.get("Job", namespace, "invoice-1"), "the FlowRun's Job")
    assert job["metadata"]["ownerReferences"][0]["uid"] == created["metadata"]["uid"]
    pending = wait(phase(api, namespace, "invoice-1", "Pending"), "Pending")
    assert pending["status"]["job"] == "invoice-1"
    # The Job controller made the run's Pod, which no kubelet starts: the test runs it.
    wait(lambda: api.items("Pod", namespace, **{"job-name": "invoice-1"}), "the run's Pod")

    done = run_job_as_kubelet(controlplane, api, namespace, job, tmp_path)
    assert done.returncode == 0, done.stderr
    found = wait(phase(api, namespace, "invoice-1", "Succeeded"), "Succeeded")
    status = found["status"]
    assert status["result"] == {"customer": "ACME", "total": 145.2}
    assert status["executionId"] and status["startedAt"] <= status["finishedAt"]
    assert status["conditions"][0]["status"] == "True" and "error" not in status
    # `weir flowrun` reported to the Flow too, as `weir run` does in a manual Job.
    flow = wait(
        lambda: ((api.get("Flow", namespace, FLOW) or {}).get("status") or {}).get("lastExecution"),
        "the Flow's lastExecution",
    )
    assert flow["id"] == status["executionId"] and flow["phase"] == "succeeded"


def test_a_flowrun_whose_execution_fails_is_failed_with_the_error(
    controlplane: ControlPlane, api: Api, namespace: str, wait: Wait, tmp_path: Path
) -> None:
    create_flowrun(api, namespace, "invoice-2", input={"customer": "ACME"})
    job = pending_job(api, namespace, "invoice-2", wait)
    done = run_job_as_kubelet(controlplane, api, namespace, job, tmp_path)
    assert done.returncode == 1, done.stderr
    status = wait(phase(api, namespace, "invoice-2", "Failed"), "Failed")["status"]
    assert "amount" in status["error"]["message"] and status["executionId"]
    assert status["conditions"][0]["status"] == "False"


def test_a_pod_that_fails_without_reporting_fails_its_flowrun(
    api: Api, namespace: str, wait: Wait
) -> None:
    create_flowrun(api, namespace, "invoice-3", input={"customer": "ACME", "amount": 1})
    wait(lambda: api.get("Job", namespace, "invoice-3"), "the FlowRun's Job")
    (pod,) = wait(lambda: api.items("Pod", namespace, **{"job-name": "invoice-3"}), "the Pod")
    # What a kubelet writes for a container that died at once (an image that cannot start).
    terminated = {"terminated": {"exitCode": 1, "reason": "Error"}}
    status = {
        "phase": "Failed",
        "containerStatuses": [
            {
                "name": "runner",
                "image": "x",
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "state": terminated,
            }
        ],
    }
    api.patch("Pod", namespace, pod["metadata"]["name"], {"status": status}, "status")
    found = wait(phase(api, namespace, "invoice-3", "Failed"), "Failed from the Job")
    assert found["status"]["error"]["type"] == "JobFailed"
    assert "invoice-3" in found["status"]["error"]["message"]


def test_a_finished_flowrun_is_deleted_after_its_ttl_with_its_job(
    controlplane: ControlPlane, api: Api, namespace: str, wait: Wait, tmp_path: Path
) -> None:
    create_flowrun(
        api, namespace, "invoice-4", input={"customer": "ACME", "amount": 1},
        ttlSecondsAfterFinished=0,
    )  # fmt: skip
    job = pending_job(api, namespace, "invoice-4", wait)
    done = run_job_as_kubelet(controlplane, api, namespace, job, tmp_path)
    assert done.returncode == 0, done.stderr
    wait(lambda: api.get("FlowRun", namespace, "invoice-4") is None, "the FlowRun deleted")
    # The garbage collector takes its Job (owner reference).
    wait(lambda: api.get("Job", namespace, "invoice-4") is None, "the Job collected", 90.0)


def test_the_run_annotation_creates_a_flowrun(api: Api, namespace: str, wait: Wait) -> None:
    annotations = {"weir.dev/run": "t-1", "weir.dev/run-input": '{"customer": "B", "amount": 2}'}
    api.patch("Flow", namespace, FLOW, {"metadata": {"annotations": annotations}})
    runs = wait(
        lambda: ((api.get("Flow", namespace, FLOW) or {}).get("status") or {}).get("manualRuns"),
        "the manual run recorded",
    )
    (run,) = runs
    flowrun = wait(lambda: api.get("FlowRun", namespace, run["flowRun"]), "the FlowRun")
    assert flowrun["spec"] == {"flowRef": FLOW, "input": {"customer": "B", "amount": 2}}
    assert flowrun["metadata"]["ownerReferences"][0]["kind"] == "Flow"
    wait(lambda: api.get("Job", namespace, run["job"]), "its Job")


def test_the_spec_of_a_flowrun_cannot_change(api: Api, namespace: str) -> None:
    create_flowrun(api, namespace, "invoice-5", input={"customer": "A", "amount": 1})
    answer = api.request(
        "PATCH",
        f"/apis/weir.dev/v1alpha1/namespaces/{namespace}/flowruns/invoice-5",
        content='{"spec": {"input": {"customer": "Z"}}}',
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert answer.status_code == 422 and "spec is immutable" in answer.text


def test_a_replay_with_a_patched_input_succeeds_where_the_original_failed(
    controlplane: ControlPlane, api: Api, namespace: str, wait: Wait, tmp_path: Path
) -> None:
    create_flowrun(api, namespace, "invoice-6", input={"customer": "ACME"})
    job = pending_job(api, namespace, "invoice-6", wait)
    run_job_as_kubelet(controlplane, api, namespace, job, tmp_path)
    original = wait(phase(api, namespace, "invoice-6", "Failed"), "Failed")["status"]
    # No console here: the runner reads the original from its store (the same file).
    create_flowrun(
        api, namespace, "invoice-7", replayOf=original["executionId"],
        input={"customer": "ACME", "amount": 10},
    )  # fmt: skip
    job = pending_job(api, namespace, "invoice-7", wait)
    done = run_job_as_kubelet(controlplane, api, namespace, job, tmp_path)
    assert done.returncode == 0, done.stderr
    status = wait(phase(api, namespace, "invoice-7", "Succeeded"), "Succeeded")["status"]
    assert status["result"] == {"customer": "ACME", "total": 12.1}
    assert status["executionId"] != original["executionId"]


def admin_runs(controlplane: ControlPlane) -> ClusterRuns:
    return ClusterRuns(Kube(str(controlplane.kubeconfig)), store=None)


def running_record(execution_id: str, namespace: str) -> ExecutionRecord:
    return ExecutionRecord(
        execution_id, FLOW, "r", "manual", {}, Status.RUNNING, 0.0, namespace=namespace
    )


async def test_a_run_the_console_starts_is_a_flowrun_under_the_id_it_answered(
    controlplane: ControlPlane, api: Api, namespace: str, wait: Wait, tmp_path: Path
) -> None:
    runs = admin_runs(controlplane)
    try:
        started = await runs.start(FLOW, namespace, {"customer": "C", "amount": 5})
        with pytest.raises(UnknownFlow, match="no flow 'nope'"):
            await runs.start("nope", namespace, {})
        with pytest.raises(UnknownFlow, match="did not run in this cluster"):
            await runs.start(FLOW, "", {}, replay_of="0" * 26)
    finally:
        await runs.kube.close()
    name = started.flow_run or ""
    assert name == f"{FLOW}-{started.execution_id[-8:]}"
    job = pending_job(api, namespace, name, wait)
    done = run_job_as_kubelet(controlplane, api, namespace, job, tmp_path)
    assert done.returncode == 0, done.stderr
    found = wait(phase(api, namespace, name, "Succeeded"), "Succeeded")
    assert found["status"]["executionId"] == started.execution_id
    assert found["status"]["result"] == {"customer": "C", "total": 6.05}


async def test_cancelling_a_flowruns_execution_deletes_its_job_and_keeps_cancelled(
    controlplane: ControlPlane, api: Api, namespace: str, wait: Wait, tmp_path: Path
) -> None:
    runs = admin_runs(controlplane)
    try:
        started = await runs.start(FLOW, namespace, {"customer": "C", "amount": 5})
        name = started.flow_run or ""
        job = pending_job(api, namespace, name, wait)
        record = running_record(started.execution_id, namespace)
        assert await runs.cancel(record) is True
        assert await runs.cancel(record) is False  # finished: the console asks no one else
        assert await runs.cancel(running_record("0" * 26, namespace)) is False
    finally:
        await runs.kube.close()
    found = wait(phase(api, namespace, name, "Cancelled"), "Cancelled")
    assert found["status"]["conditions"][0]["status"] == "False"
    wait(lambda: api.get("Job", namespace, name) is None, "the Job deleted")
    # A runner that starts after all runs nothing and leaves Cancelled alone.
    done = run_job_as_kubelet(controlplane, api, namespace, job, tmp_path)
    assert done.returncode == 0 and "nothing to run" in done.stderr
    assert api.get("FlowRun", namespace, name)["status"]["phase"] == "Cancelled"


def test_the_operator_log_has_no_tracebacks(operator: OperatorProcess) -> None:
    assert operator.problems() == [], operator.tail()
