"""Runners and the console as their rendered pods would run them, for tests that kill them.

* ``RunnerProcess``: a runner pod's container (a Deployment's `weir serve`, a CronJob's
  `weir run`) as a local process (``job_process``: its command, environment and ServiceAccount
  token), shipping to a console on loopback, its local store a file of a directory that
  outlives the process as a pod's emptyDir outlives its container.
* ``chart_console``: the chart's console command (`weir console --kube ...`) with the console
  ServiceAccount's kubeconfig, as ``tests.test_cli_server.Console`` runs it.
* ``Load``: clients posting to a runner until told to stop, keeping the execution id of every
  answered request; a refused connection (the runner restarting) is retried.
* ``listed``: every execution the console lists for a flow, page by page.
"""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.kube.controlplane import ControlPlane
from tests.kube.operator_harness import Api, Installation, is_console
from tests.kube.test_flowrun import job_process
from tests.servers.ports import free_port
from tests.test_cli_server import Console
from weir.store.tables import executions

ROOT = Path(__file__).resolve().parents[2]
EXECUTION_HEADER = "X-Weir-Execution-Id"


class RunnerProcess:
    """One runner pod's container; ``start`` again after ``kill`` is the kubelet restarting it
    (same emptyDir: the same local store)."""

    def __init__(
        self, plane: ControlPlane, api: Api, namespace: str, owner: dict[str, Any],
        template: dict[str, Any], workdir: Path, console: str,
    ) -> None:  # fmt: skip
        workdir.mkdir(parents=True, exist_ok=True)
        shaped = {"metadata": owner["metadata"], "spec": {"template": template}}
        self.argv, self.env = job_process(plane, api, namespace, shaped, workdir)
        self.env["WEIR_CONSOLE_URL"] = console
        self.store = workdir / "executions.db"
        self.log = workdir / "runner.log"
        self.port = 0
        if "--port" in self.argv:  # weir serve: the rendered port is the pod's, not free here
            self.port = free_port()
            self.argv[self.argv.index("--port") + 1] = str(self.port)
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.argv, stdout=out, stderr=subprocess.STDOUT, env=self.env, cwd=ROOT
            )

    def wait(self, timeout: float) -> int | None:
        """A Job's pod: its exit code (None: never started)."""
        return None if self.process is None else self.process.wait(timeout)

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                pytest.fail(f"the runner exited with {self.process.returncode}:\n{self.tail()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            if time.monotonic() > deadline:
                pytest.fail(f"the runner was not ready within {timeout}s:\n{self.tail()}")
            time.sleep(0.1)

    def kill(self) -> None:
        """kill -9: no drain, no last shipping."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def recorded(self) -> dict[str, str]:
        """Execution id → status in the local store (read-only: the runner may be writing);
        empty before the runner created it."""
        if not self.store.is_file():
            return {}
        with contextlib.closing(sqlite3.connect(f"file:{self.store}?mode=ro", uri=True)) as db:
            try:
                return dict(db.execute(f"SELECT id, status FROM {executions.name}").fetchall())
            except sqlite3.OperationalError as exc:  # its schema is being created
                if "no such table" not in str(exc):
                    raise
                return {}

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.is_file() else ""
        return "\n".join(text.splitlines()[-lines:])


def chart_console(plane: ControlPlane, installation: Installation, workdir: Path) -> Console:
    """The chart's console container as `weir console` on loopback, its store in ``workdir``
    (the PersistentVolumeClaim), acting with its ServiceAccount's token."""
    (deployment,) = [o for o in installation.objects if o["kind"] == "Deployment" and is_console(o)]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"][:3] == ["weir", "console", "--kube"], container["command"]
    args = tuple(
        a for a in container["command"][2:] if not a.startswith(("--host=", "--port="))
    )  # on loopback, on a free port
    kubeconfig = plane.service_account_kubeconfig(
        installation.namespace, pod["serviceAccountName"], workdir / "console.kubeconfig"
    )
    port = free_port()
    return Console(
        f"http://127.0.0.1:{port}", f"sqlite:///{workdir}/console.db", port,
        args=args, env={"KUBECONFIG": str(kubeconfig)},
    )  # fmt: skip


class Load:
    """``clients`` threads posting to ``url`` until ``stop``; ``answered`` holds the execution
    id of every request answered 200, ``refused`` how many attempts found no runner."""

    def __init__(self, url: str, clients: int = 4) -> None:
        self.url = url
        self.answered: list[str] = []
        self.refused = 0
        self.errors: list[str] = []
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._post, args=(n,)) for n in range(clients)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(30)

    def count(self) -> int:
        with self._lock:
            return len(self.answered)

    def _post(self, client: int) -> None:
        with httpx.Client(timeout=10) as http:
            n = 0
            while not self._stopping.is_set():
                n += 1
                try:
                    answer = http.post(self.url, json={"client": client, "n": n})
                except httpx.TransportError:  # the runner is down or went down mid-request
                    with self._lock:
                        self.refused += 1
                    time.sleep(0.02)
                    continue
                with self._lock:
                    if answer.status_code == 200:
                        self.answered.append(answer.headers[EXECUTION_HEADER])
                    else:
                        self.errors.append(f"{answer.status_code}: {answer.text[:200]}")


def listed(
    console: str, headers: dict[str, str], namespace: str, flow: str
) -> list[dict[str, Any]]:
    """Every execution of the flow the console lists, following the cursor."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"namespace": namespace, "flow": flow, "limit": 100}
    while True:
        answer = httpx.get(
            f"{console}/api/v1/executions", params=params, headers=headers, timeout=10
        )
        assert answer.status_code == 200, answer.text
        page = answer.json()
        items += page["items"]
        if not page["nextCursor"]:
            return items
        params["cursor"] = page["nextCursor"]
