"""`weir operator` as a process against KMock's emulator: it logs in through the kubeconfig,
reconciles a Flow, answers its liveness probe and exports its metrics."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp

from tests.operator.cluster import Cluster, declare, write_kubeconfig


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def fetch(url: str) -> tuple[int, str]:
    try:
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            return response.status, await response.text()
    except aiohttp.ClientError:
        return 0, ""


async def test_weir_operator_reconciles_and_serves_liveness_and_metrics(
    kmock: Any, tmp_path: Path
) -> None:
    declare(kmock)
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", str(kmock.url))
    liveness, metrics = free_port(), free_port()
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "WEIR_RUNNER_IMAGE": "example.invalid/runner:test",
    }
    env.pop("KUBERNETES_SERVICE_HOST", None)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "weir.cli",
            "operator",
            "--liveness-port",
            str(liveness),
            "--metrics-port",
            str(metrics),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        async with aiohttp.ClientSession() as session:
            cluster = Cluster(str(kmock.url), session)
            await cluster.create(
                {
                    "apiVersion": "weir.dev/v1alpha1",
                    "kind": "Flow",
                    "metadata": {"name": "nightly"},
                    "spec": {
                        "trigger": {"cron": {"schedule": "0 3 * * *"}},
                        "nodes": [{"name": "a", "log": {"message": "x"}}],
                    },
                }
            )
            cron = await cluster.wait_for(
                "cron job", lambda: cluster.get("CronJob", "weir-nightly"), timeout=60
            )
            container = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
            assert container["image"] == "example.invalid/runner:test"

        async def live() -> Any:
            status, _ = await fetch(f"http://127.0.0.1:{liveness}/healthz")
            return status == 200

        for _ in range(100):
            if await live():
                break
            await asyncio.sleep(0.2)
        assert await live()
        # The CronJob is applied before the reconcile handler returns and counts it:
        # the metrics catch up a moment later.
        status, text = 0, ""
        for _ in range(100):
            status, text = await fetch(f"http://127.0.0.1:{metrics}/metrics")
            if 'weir_operator_flows{phase="Ready"} 1.0' in text:
                break
            await asyncio.sleep(0.2)
        assert status == 200
        assert 'weir_operator_reconciles_total{phase="Ready"}' in text
        assert 'weir_operator_flows{phase="Ready"} 1.0' in text
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode()
    assert "Traceback" not in output, output
