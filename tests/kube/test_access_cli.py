"""`weir executions … --server` against `weir console --kube` on a real API server: a reader
whose Role allows `get flows` in one namespace sees that namespace's executions only, and every
refusal (no token, a bad token, another namespace, an action it may not take) is one line."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.kube.test_access_rbac import Cluster, cluster, get_flows
from tests.servers.ports import free_port
from tests.test_cli_server import Console
from tests.test_cli_server import weir as cli

__all__ = ["cluster"]  # the module fixture, shared with test_access_rbac.py

ROOT = Path(__file__).parents[2]
HELLO = ROOT / "examples" / "hello" / "flow.yaml"
pytestmark = pytest.mark.timeout(180)


def weir(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return cli(*args, env=env)


@dataclass
class Served:
    url: str
    execution_a: str
    execution_b: str
    reader: str
    """A token allowed to get flows in namespace A only."""


@pytest.fixture(scope="module")
def served(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("access-cli")
    store = f"sqlite:///{workdir}/console.db"
    ran = {}
    for namespace in (cluster.a, cluster.b):  # as runners in those namespaces record them
        done = weir("run", str(HELLO), "--input", '{"name": "Ada"}', "--store", store, "-q",
                    WEIR_NAMESPACE=namespace)  # fmt: skip
        assert done.returncode == 0, done.stderr
        listed = weir("executions", "list", "--json", "--limit", "1", "--store", store)
        ran[namespace] = json.loads(listed.stdout)[0]["id"]
    reader = cluster.account("cli-reader")
    cluster.role(cluster.a, "cli-reader", get_flows())
    cluster.bind(cluster.a, "Role", "cli-reader", "cli-reader")
    port = free_port()
    console = Console(
        f"http://127.0.0.1:{port}",
        store,
        port,
        args=("--kube",),
        env={"KUBECONFIG": str(cluster.console_kubeconfig)},
    )
    console.start(workdir / "console.log")
    try:
        yield Served(console.url, ran[cluster.a], ran[cluster.b], reader)
    finally:
        console.stop()


def test_a_reader_lists_and_shows_only_its_namespace(cluster: Cluster, served: Served) -> None:
    deadline = time.monotonic() + 30
    while True:  # the new RoleBinding reaches the authorizer a moment later
        listed = weir("executions", "list", "--server", served.url, "--token", served.reader)
        if listed.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert listed.returncode == 0, listed.stderr
    assert served.execution_a in listed.stdout and served.execution_b not in listed.stdout
    # The token from the environment, as a script would pass it.
    shown = weir("executions", "show", served.execution_a, "--server", served.url,
                 WEIR_TOKEN=served.reader)  # fmt: skip
    assert shown.returncode == 0 and "Hello, Ada!" in shown.stdout, shown.stderr


def test_each_refusal_is_one_line(cluster: Cluster, served: Served) -> None:
    user = f"system:serviceaccount:{cluster.home}:cli-reader"
    url, token = served.url, served.reader
    cases = [
        (
            ("executions", "list", "--server", url),
            f"weir: {url}: not authenticated: a bearer token is required (Authorization: Bearer "
            "TOKEN); give --token, $WEIR_TOKEN or a context's token",
        ),
        (
            ("executions", "list", "--server", url, "--token", "not-a-token"),
            f"weir: {url}: not authenticated: the token was not accepted: ",
        ),
        (
            ("executions", "list", "--namespace", cluster.b, "--server", url, "--token", token),
            f"weir: {url}: not allowed: {user} may not get flows (weir.dev) in namespace "
            f"'{cluster.b}'",
        ),
        (
            ("executions", "show", served.execution_b, "--server", url, "--token", token),
            f"weir: {url}: not allowed: {user} may not get flows 'hello' (weir.dev) in "
            f"namespace '{cluster.b}'",
        ),
        (
            ("cancel", served.execution_a, "--server", url, "--token", token),
            f"weir: {url}: not allowed: {user} may not create flowruns (weir.dev) in namespace "
            f"'{cluster.a}'",
        ),
    ]
    for args, message in cases:
        done = weir(*args)
        assert done.returncode == 1, (args, done.stdout)
        assert done.stderr.startswith(message) and done.stderr.count("\n") == 1, done.stderr
