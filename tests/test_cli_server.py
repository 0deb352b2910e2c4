"""The `weir` command as a console's client, against a real `weir console` process over a store
seeded by `weir run`: the same tables and details as with --store, replay with a patched input,
runs, cancel, the live watch across a console restart, and one-line errors (server down, 404,
409, a context that does not exist)."""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.servers.ports import free_port

ROOT = Path(__file__).parents[1]
HELLO = ROOT / "examples" / "hello" / "flow.yaml"
CODE = ROOT / "examples" / "code" / "flow.yaml"
SLOW = ROOT / "tests" / "console" / "flows"
FLOWS = [HELLO, CODE, SLOW]
GOOD_ORDER = {"customer": "Ada", "lines": [{"sku": "A1", "qty": 2, "price": 9.5}]}
EMPTY_ORDER = {"customer": "Bob", "lines": []}
"""The code example fails on it: "order for Bob has no lines"."""

pytestmark = pytest.mark.timeout(180)


def weir(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "weir.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "WEIR_CONFIG": "/nonexistent/weir.yaml", **(env or {})},
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


@dataclass
class Console:
    """`weir console` in a process of its own: the local flows, or what `args` say."""

    url: str
    store: str
    port: int
    args: tuple[str, ...] = tuple(str(path) for path in FLOWS)
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def start(self, log: Path) -> None:
        command = ["console", "--store", self.store, "--port", str(self.port), *self.args]
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "weir.cli", *command],
                stdout=out,
                stderr=out,
                env={**os.environ, **self.env},
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"weir console did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """A console over a store holding a hello run and a failed run of the code example."""
    workdir = tmp_path_factory.mktemp("cli-server")
    store = f"sqlite:///{workdir}/history.db"
    assert weir("run", str(HELLO), "--input", '{"name": "Ada"}', "--store", store).returncode == 0
    failed = weir("run", str(CODE), "--input", json.dumps(EMPTY_ORDER), "--store", store)
    assert failed.returncode == 1
    port = free_port()
    console = Console(f"http://127.0.0.1:{port}", store, port)
    console.start(workdir / "console.log")
    yield console
    console.stop()


def ids(store: str) -> list[str]:
    listed = json.loads(weir("executions", "list", "--json", "--store", store).stdout)
    return [item["id"] for item in listed]


def test_list_and_show_print_what_the_store_does(seeded: Console) -> None:
    for args in ([], ["--json"], ["--flow", "hello"], ["--status", "failed"], ["--limit", "1"]):
        local = weir("executions", "list", *args, "--store", seeded.store)
        remote = weir("executions", "list", *args, "--server", seeded.url)
        assert remote.returncode == 0, remote.stderr
        if "--json" in args:  # list rows carry no payloads (show has them), an error's gist
            assert same(gist(json.loads(remote.stdout)), gist(json.loads(local.stdout)))
        else:
            assert before_error(remote.stdout) == before_error(local.stdout), args
            assert "order for Bob has no lines" in remote.stdout or "failed" not in local.stdout
    for execution in ids(seeded.store)[-2:]:
        for args in ([], ["--json"]):
            local = weir("executions", "show", execution, *args, "--store", seeded.store)
            remote = weir("executions", "show", execution, *args, "--server", seeded.url)
            assert remote.returncode == 0, remote.stderr
            if args:
                assert same(json.loads(remote.stdout), json.loads(local.stdout)), remote.stdout
            else:
                assert DURATION.sub("…", remote.stdout) == DURATION.sub("…", local.stdout)


DURATION = re.compile(r"\b\d+\.\d+m?s\b")
"""Durations as the tables and details print them: computed from times that go over the API as
ISO text, to the microsecond, they may differ from the store's in the last digit."""


def same(remote: Any, local: Any) -> bool:
    """Equal, but for durations within a microsecond (ISO times on the wire)."""
    if isinstance(remote, dict) and isinstance(local, dict):
        return remote.keys() == local.keys() and all(
            abs(remote[key] - local[key]) < 1e-3
            if key == "durationMs" and None not in (remote[key], local[key])
            else same(remote[key], local[key])
            for key in remote
        )
    if isinstance(remote, list) and isinstance(local, list):
        return len(remote) == len(local) and all(map(same, remote, local))
    return bool(remote == local)


def gist(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            **row,
            "trigger": None,
            "result": None,
            "error": (row["error"] or {}).get("type"),
        }
        for row in rows
    ]


def before_error(table: str) -> list[str]:
    """The table without its last column: a list row names the error, not its node."""
    lines = table.splitlines()
    column = lines[0].find("ERROR")
    return [" ".join(DURATION.sub("…", line[:column]).split()) for line in lines]


def test_a_replay_with_a_patched_input_succeeds_where_the_original_failed(
    seeded: Console,
) -> None:
    failed = weir("executions", "list", "--status", "failed", "--json", "--server", seeded.url)
    original = json.loads(failed.stdout)[0]["id"]
    patched = json.dumps(GOOD_ORDER)
    done = weir("replay", original, "--server", seeded.url, "--input", patched, "--wait")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["customer"] == "ADA"
    assert f"replay of {original} started" in done.stderr
    replay = done.stderr.rsplit("execution ", 1)[1].strip()
    shown = weir("executions", "show", replay, "--server", seeded.url)
    assert f"replay of  {original}" in shown.stdout and "succeeded" in shown.stdout


def test_a_run_is_started_with_its_input_and_its_failure_exits_1(seeded: Console) -> None:
    ok = weir(
        "runs", "create", "hello", "--input", '{"name": "Grace"}', "--server", seeded.url, "--wait"
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout) == {"greeting": "Hello, Grace!"}
    started = weir(
        "runs", "create", "code-example", "--input", json.dumps(EMPTY_ORDER), "--server", seeded.url
    )
    assert started.returncode == 0, started.stderr
    execution = started.stdout.strip()
    failed = weir("replay", execution, "--server", seeded.url, "--wait")
    assert failed.returncode == 1
    assert "failed: node 'summarise'" in failed.stderr and "no lines" in failed.stderr


def test_cancel_stops_a_running_execution_and_a_finished_one_is_refused(seeded: Console) -> None:
    started = weir("runs", "create", "slow", "--input", '{"ms": 30000}', "--server", seeded.url)
    execution = started.stdout.strip()
    cancel = weir("cancel", execution, "--server", seeded.url)
    assert cancel.returncode == 0, cancel.stderr
    assert cancel.stdout.strip() == f"execution {execution}: cancelling"
    deadline = time.monotonic() + 10
    while "cancelled" not in weir("executions", "show", execution, "--server", seeded.url).stdout:
        assert time.monotonic() < deadline, "not cancelled within 10 s"
        time.sleep(0.2)
    again = weir("cancel", execution, "--server", seeded.url)
    assert again.returncode == 1
    assert again.stderr.startswith(f"weir: {seeded.url}: ") and again.stderr.count("\n") == 1


def test_watch_prints_each_event_once_across_a_console_restart(tmp_path: Path) -> None:
    port = free_port()
    console = Console(f"http://127.0.0.1:{port}", f"sqlite:///{tmp_path}/s.db", port)
    log = tmp_path / "console.log"
    console.start(log)
    watch = subprocess.Popen(
        [sys.executable, "-m", "weir.cli", "executions", "watch", "--server", console.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "WEIR_CONFIG": "/nonexistent"},
    )
    try:
        time.sleep(1.0)  # the watch connected: it starts from now
        first = weir(
            "runs", "create", "hello", "--input", '{"name": "A"}', "--server", console.url, "--wait"
        )
        assert first.returncode == 0, first.stderr
        lines = read_lines(watch, until="execution  succeeded")
        console.stop()
        console.start(log)
        second = weir(
            "runs", "create", "hello", "--input", '{"name": "B"}', "--server", console.url, "--wait"
        )
        assert second.returncode == 0, second.stderr
        lines += read_lines(watch, until="execution  succeeded")
    finally:
        watch.terminate()
        _, stderr = watch.communicate(timeout=10)
        console.stop()
    assert "reconnecting" in stderr, stderr
    assert len(lines) == len(set(lines)), lines  # nothing printed twice
    executions = {line.split("  ")[2] for line in lines}
    assert len(executions) == 2, lines
    for execution in executions:
        mine = [line for line in lines if f"  {execution}  " in line]
        assert mine[0].endswith("execution  running"), mine
        assert any("node greet[1]  succeeded" in line for line in mine), mine
        assert mine[-1].endswith("execution  succeeded"), mine


def read_lines(process: subprocess.Popen[str], until: str, timeout: float = 30) -> list[str]:
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline().rstrip("\n")
        assert line or process.poll() is None, "weir executions watch exited"
        lines.append(line)
        if line.endswith(until):
            return lines
    pytest.fail(f"no line ending {until!r} within {timeout}s: {lines}")


def test_a_console_that_is_down_is_one_line() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    for args in (
        ["executions", "list"],
        ["executions", "show", "abc"],
        ["executions", "watch"],
        ["cancel", "abc"],
        ["replay", "abc"],
        ["runs", "create", "hello"],
    ):
        done = weir(*args, "--server", url)
        assert done.returncode == 1, (args, done.stderr)
        assert (
            done.stderr
            == f"weir: cannot reach the console at {url}: [Errno 111] Connection refused\n"
        )


def test_unknown_ids_and_flows_are_the_consoles_404_in_one_line(seeded: Console) -> None:
    shown = weir("executions", "show", "nosuchid", "--server", seeded.url)
    assert shown.returncode == 1
    assert shown.stderr.startswith(f"weir: {seeded.url}: ") and "nosuchid" in shown.stderr
    run = weir("runs", "create", "no-such-flow", "--server", seeded.url)
    assert run.returncode == 1 and "no-such-flow" in run.stderr, run.stderr
    elsewhere = weir("executions", "list", "--server", f"{seeded.url}/not-the-api")
    assert elsewhere.returncode == 1
    assert "no endpoint at /not-the-api/api/v1/executions" in elsewhere.stderr, elsewhere.stderr


def test_a_server_that_is_no_console_is_named(tmp_path: Path) -> None:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as other:
        thread = threading.Thread(target=other.serve_forever, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{other.server_address[1]}"
        try:
            done = weir("executions", "list", "--server", url)
        finally:
            other.shutdown()
    assert done.returncode == 1
    assert done.stderr == (
        f"weir: {url}: GET /api/v1/executions: 404, no such API here: is this a Weir console?\n"
    )


def test_a_context_of_the_config_file_names_the_console(seeded: Console, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"current-context: here\ncontexts:\n  here: {{server: {seeded.url}}}\n"
        "  gone: {server: 'http://127.0.0.1:9'}\n"
    )
    env = {"WEIR_CONFIG": str(config)}
    local = weir("executions", "list", "--store", seeded.store, env=env)
    current = weir("executions", "list", env=env)
    assert before_error(current.stdout) == before_error(local.stdout)
    chosen = weir("executions", "list", "--context", "here", env=env)
    assert before_error(chosen.stdout) == before_error(local.stdout)
    gone = weir("executions", "list", "--context", "gone", env=env)
    assert gone.returncode == 1 and "cannot reach the console at http://127.0.0.1:9" in gone.stderr
    unknown = weir("executions", "list", "--context", "prod", env=env)
    assert unknown.returncode == 2
    assert (
        unknown.stderr == f"weir: {config}: no context 'prod' under contexts (known: gone, here)\n"
    )


def test_bad_console_options_are_usage_errors(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    cases = {
        (
            "--store",
            "sqlite:///x.db",
            "--server",
            "http://h",
        ): "give --store or --server/--context, not both",
        ("--server", "ftp://h"): "--server='ftp://h': give the console's http:// or https:// URL",
        ("--context", "x"): f"--context x: there is no config file {config}",
    }
    for args, message in cases.items():
        done = weir("executions", "list", *args, env={"WEIR_CONFIG": str(config)})
        assert (done.returncode, done.stderr) == (2, f"weir: {message}\n"), args
    for text, message in (
        ("contexts: [", "is not valid YAML"),
        (
            "current-context: a\ncontexts: {a: {token: t}}",
            "contexts.a.server: give the console's URL",
        ),
    ):
        config.write_text(text)
        done = weir("executions", "list", env={"WEIR_CONFIG": str(config)})
        assert done.returncode == 2 and message in done.stderr, done.stderr
    watch = weir("executions", "watch", env={"WEIR_CONFIG": str(tmp_path / "none.yaml")})
    assert watch.returncode == 2 and "which console? give --server URL" in watch.stderr
    replay = weir("replay", str(HELLO), "abc", "--input", "{}", "--store", "sqlite:///x.db")
    assert replay.returncode == 2 and "--input patches the trigger payload" in replay.stderr


def test_the_event_stream_format_is_read_as_specified() -> None:
    from weir.cli.console_client import parse_events

    stream = [
        ": heartbeat",
        "",
        "id: 7",
        "event: node",
        'data: {"a":',
        "data:  1}",
        "",
        "event: execution",  # no data: dispatches nothing
        "",
        "retry: 500",
        "id: 8",
        "data: x",
        "",
    ]
    assert list(parse_events(iter(stream))) == [(7, "node", '{"a":\n 1}'), (8, "message", "x")]
