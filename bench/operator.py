"""Operator throughput: N Flows created, reconciled by a real `weir operator` process. Prints
one JSON line: seconds until every Flow is Ready with its current generation observed, API
writes per Flow (creates, patches, deletes the operator sent), and the operator's peak RSS.

    python bench/operator.py [--flows 1000]          # against KMock's emulator
    python bench/operator.py --real [--flows 1000]   # against a real kube-apiserver and etcd
                                                     # (make controlplane), under a ServiceAccount

The baseline is the API server itself: the time the bench takes to create the N Flows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import kmock

sys.path.insert(0, str(Path(__file__).parents[1]))
from tests.operator.cluster import Apiserver, Cluster, declare, write_kubeconfig


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process: what the operator itself spent, whatever the
    emulator's speed."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def flow(n: int) -> dict[str, Any]:
    return {
        "apiVersion": "weir.dev/v1alpha1",
        "kind": "Flow",
        "metadata": {"name": f"report-{n:04d}"},
        "spec": {
            "trigger": {"cron": {"schedule": f"{n % 60} 3 * * *"}},
            "nodes": [{"name": "report", "log": {"message": "report ${trigger.scheduledTime}"}}],
        },
    }


class WriteCounter:
    """Counts API writes and drops the emulator's request history as it goes: KMock matches
    every request against its whole history, which would make the emulator, not the operator,
    the bottleneck of a 1,000-flow run (quadratic in the number of requests)."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.writes = 0

    def collect(self) -> None:
        requests = self.server._requests  # the emulator's history (a list)
        self.writes += sum(
            1 for r in requests if r.method.value in ("POST", "PATCH", "PUT", "DELETE")
        )
        requests.clear()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            self.collect()


def operator_process(kubeconfig: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    env.pop("KUBERNETES_SERVICE_HOST", None)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "weir.cli",
            "operator",
            "--liveness-port",
            str(free_port()),
            "--metrics-port",
            "0",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(os.environ.get("BENCH_LOG", os.devnull), "w"),
    )


def count_converged(flows: list[dict[str, Any]]) -> int:
    return sum(
        1
        for f in flows
        if (f.get("status") or {}).get("phase") == "Ready"
        and (f.get("status") or {}).get("observedGeneration") == f["metadata"].get("generation")
        and (f.get("status") or {}).get("conditions")
    )


def real(args: argparse.Namespace) -> dict[str, Any]:
    """The same run against etcd + kube-apiserver + kube-controller-manager, the operator
    under a ServiceAccount whose writes the apiserver's audit log counts."""
    import httpx

    from tests.kube.controlplane import running_controlplane
    from tests.kube.operator_harness import audited_calls

    root = Path(__file__).parents[1]
    with tempfile.TemporaryDirectory() as tmp, running_controlplane(Path(tmp)) as plane:
        done = plane.kubectl("apply", "--server-side", "-f", str(root / "crds"))
        assert done.returncode == 0, done.stderr
        plane.kubectl("wait", "--for=condition=Established", "crd/flows.weir.dev")
        with plane.client() as admin:
            admin.post(
                "/api/v1/namespaces/default/serviceaccounts",
                json={"metadata": {"name": "weir-operator"}},
            ).raise_for_status()
            admin.post(
                "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
                json={
                    "metadata": {"name": "weir-operator-bench"},
                    "roleRef": {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "ClusterRole",
                        "name": "cluster-admin",
                    },
                    "subjects": [
                        {"kind": "ServiceAccount", "name": "weir-operator", "namespace": "default"}
                    ],
                },
            ).raise_for_status()
            kubeconfig = plane.service_account_kubeconfig(
                "default", "weir-operator", Path(tmp) / "operator.kubeconfig"
            )
            process = operator_process(kubeconfig)
            try:
                flows_url = "/apis/weir.dev/v1alpha1/namespaces/default/flows"
                started = time.perf_counter()
                with httpx.Client(
                    base_url=plane.server,
                    headers={"Authorization": f"Bearer {plane.token}"},
                    verify=str(plane.ca_file),
                    timeout=60,
                ) as client:
                    for n in range(args.flows):
                        client.post(flows_url, json=flow(n)).raise_for_status()
                    created = time.perf_counter() - started
                    ready = 0
                    while time.perf_counter() - started < args.timeout:
                        ready = count_converged(client.get(flows_url).json()["items"])
                        if ready == args.flows:
                            break
                        time.sleep(0.5)
                    seconds = time.perf_counter() - started
                    cron_jobs = len(
                        client.get("/apis/batch/v1/namespaces/default/cronjobs").json()["items"]
                    )
                rss, cpu = peak_rss_mb(process.pid), cpu_seconds(process.pid)
            finally:
                process.terminate()
                process.wait(timeout=30)
        writes = sum(
            1
            for event in audited_calls(plane, "system:serviceaccount:default:weir-operator")
            if event.get("stage") == "ResponseComplete"
            and event.get("verb") in ("create", "patch", "update", "delete")
        )
        version = plane.version
    return {
        "bench": "operator",
        "apiserver": f"kube-apiserver {version}",
        "cron_jobs": cron_jobs,
        **figures(args.flows, ready, seconds, created, writes, rss, cpu),
    }


def figures(
    flows: int, ready: int, seconds: float, created: float, writes: int, rss: float, cpu: float
) -> dict[str, Any]:
    """The figures both targets report, the operator's beside the API server's own pace."""
    return {
        "flows": flows,
        "ready": ready,
        "seconds_to_converge": round(seconds, 2),
        "baseline_seconds_to_create": round(created, 2),
        "ratio": round(seconds / created, 2) if created else None,
        "api_writes_per_flow": round(writes / flows, 2),
        "operator_peak_rss_mb": round(rss, 1),
        "operator_cpu_seconds": round(cpu, 2),
        "operator_cpu_ms_per_flow": round(cpu / flows * 1000, 2),
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--flows", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--real", action="store_true", help="a real kube-apiserver, not KMock")
    args = parser.parse_args()
    if args.real:
        print(json.dumps(real(args)))
        return
    async with Apiserver() as server, kmock.Server(server):
        declare(server)
        with tempfile.TemporaryDirectory() as tmp:
            kubeconfig = write_kubeconfig(Path(tmp) / "kubeconfig", str(server.url))
            process = operator_process(kubeconfig)
            try:
                counter = WriteCounter(server)
                trimmer = asyncio.get_running_loop().create_task(counter.run())
                async with aiohttp.ClientSession() as session:
                    cluster = Cluster(str(server.url), session)
                    started = time.perf_counter()
                    for n in range(args.flows):
                        await cluster.create(flow(n))
                    created = time.perf_counter() - started
                    ready = 0
                    while time.perf_counter() - started < args.timeout:
                        ready = count_converged(await cluster.list("Flow"))
                        if ready == args.flows:
                            break
                        await asyncio.sleep(0.5)
                    converged = time.perf_counter() - started
                trimmer.cancel()
                counter.collect()
                rss = peak_rss_mb(process.pid)
                cpu = cpu_seconds(process.pid)
                # The bench's own writes are the creates; everything else came from the operator.
                operator_writes = counter.writes - args.flows
            finally:
                process.terminate()
                process.wait(timeout=30)
    line = {
        "bench": "operator",
        "apiserver": "KMock",
        **figures(args.flows, ready, converged, created, operator_writes, rss, cpu),
    }
    print(json.dumps(line))


if __name__ == "__main__":
    asyncio.run(main())
