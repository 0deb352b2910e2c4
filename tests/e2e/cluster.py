"""A kind cluster with the locally built images and the Helm chart installed."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[2]
CLUSTER = "weir-e2e"
CONTEXT = f"kind-{CLUSTER}"
TAG = "e2e"
RUNNER_IMAGE = f"weir-runner:{TAG}"
OPERATOR_IMAGE = f"weir-operator:{TAG}"
CONSOLE_IMAGE = f"weir-console:{TAG}"


def sh(*command: str, check: bool = True, timeout: float = 600, input: str | None = None) -> str:
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, input=input
    )
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(command)} exited {done.returncode}:\n{done.stderr}")
    return done.stdout


def kubectl(*args: str, **options: Any) -> str:
    return sh("kubectl", "--context", CONTEXT, *args, **options)


def get(kind: str, name: str, namespace: str = "default") -> dict[str, Any]:
    return json.loads(kubectl("get", kind, name, "-n", namespace, "-o", "json"))  # type: ignore[no-any-return]


def wait_for(what: str, check: Any, timeout: float = 180) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except AssertionError as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(2)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def create() -> None:
    clusters = sh("kind", "get", "clusters").split()
    if CLUSTER not in clusters:
        sh("kind", "create", "cluster", "--name", CLUSTER, "--wait", "180s", timeout=900)
    sh("docker", "build", "-f", "Dockerfile.runner", "-t", RUNNER_IMAGE, ".", timeout=1800)
    sh("docker", "build", "-f", "Dockerfile.operator", "-t", OPERATOR_IMAGE, ".", timeout=1800)
    sh("docker", "build", "-f", "Dockerfile.console", "-t", CONSOLE_IMAGE, ".", timeout=1800)
    for image in (RUNNER_IMAGE, OPERATOR_IMAGE, CONSOLE_IMAGE):
        sh("kind", "load", "docker-image", image, "--name", CLUSTER, timeout=900)
    sh(
        "helm",
        "upgrade",
        "--install",
        "weir",
        "charts/weir",
        "--kube-context",
        CONTEXT,
        "--namespace",
        "weir-system",
        "--create-namespace",
        "--set",
        "image.repository=weir-operator",
        "--set",
        f"image.tag={TAG}",
        "--set",
        "image.pullPolicy=Never",
        "--set",
        f"runner.image={RUNNER_IMAGE}",
        "--set",
        "console.image.repository=weir-console",
        "--set",
        f"console.image.tag={TAG}",
        "--set",
        "console.image.pullPolicy=Never",
        "--set",
        "runner.imagePullPolicy=Never",
        "--wait",
        "--timeout",
        "5m",
        timeout=600,
    )


def delete() -> None:
    sh("kind", "delete", "cluster", "--name", CLUSTER, check=False, timeout=300)
