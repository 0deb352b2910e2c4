"""`weir serve --console` and `weir run --console` as processes, against a stand-in console:
readiness with a backlog above the limit, shipping what is left at SIGTERM, `weir run` shipping
its execution before it exits (or exiting 3 when it cannot)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.runner.serving import ROOT, Served, free_port
from tests.serve.consoles import FakeConsole, InThread, wait_until

ECHO = ROOT / "examples" / "webhook-echo" / "flow.yaml"
HELLO = ROOT / "examples" / "hello" / "flow.yaml"


def post(served: Served, n: int) -> list[str]:
    ids = []
    for i in range(n):
        answer = httpx.post(served.url + "/echo", json={"i": i}, timeout=10)
        assert answer.status_code == 200, answer.text
        ids.append(answer.headers["X-Weir-Execution-Id"])
    return ids


def readiness(served: Served) -> dict[str, Any]:
    answer = httpx.get(served.url + "/readyz")
    body: dict[str, Any] = answer.json()
    assert answer.status_code == (503 if "reason" in body else 200), body
    return body


def gauge(metrics: str, name: str) -> float:
    (line,) = [line for line in metrics.splitlines() if line.startswith(name + " ")]
    return float(line.split()[1])


def test_a_backlog_above_the_limit_makes_the_runner_unready_until_the_console_is_back(
    tmp_path: Path,
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    store = f"sqlite:///{tmp_path}/runner.db"
    env = {"WEIR_OUTBOX_LIMIT": "3", "WEIR_CONSOLE_TOKEN": "t0ken"}
    with Served(ECHO, "--store", store, "--console", url, env=env) as served:
        ids = post(served, 3)
        # 3 executions, 3 nodes at least; the first failed shipment may have counted fewer
        wait_until(lambda: readiness(served).get("outboxBacklog", 0) >= 6, what="backlog")
        ready = readiness(served)
        assert url in ready["reason"] and "WEIR_OUTBOX_LIMIT=3" in ready["reason"]
        metrics = httpx.get(served.url + "/metrics").text
        assert gauge(metrics, "weir_outbox_backlog") >= 6  # 3 executions, 3 nodes at least
        assert gauge(metrics, "weir_outbox_failures_total") >= 1

        console = FakeConsole()
        running = InThread(console, port)
        try:
            wait_until(lambda: httpx.get(served.url + "/readyz").status_code == 200, what="ready")
            assert set(console.received) == set(ids)
            assert console.tokens and set(console.tokens) == {"Bearer t0ken"}
            metrics = httpx.get(served.url + "/metrics").text
            assert "weir_outbox_backlog 0.0" in metrics
            assert "weir_outbox_shipped_total 3.0" in metrics
        finally:
            running.stop()
    output = served.output()
    assert output.count("not ready: the console at") == 1, output
    assert output.count("failed: POST") == 1, output  # one line for the whole outage


def test_sigterm_ships_what_is_left_within_the_grace_period(tmp_path: Path) -> None:
    console = FakeConsole()
    console.answers = [503] * 10_000
    running = InThread(console)
    try:
        store = f"sqlite:///{tmp_path}/runner.db"
        served = Served(ECHO, "--store", store, "--console", running.url, "--grace", "10")
        with served:
            ids = post(served, 5)
            wait_until(lambda: console.requests >= 3, what="failed shipments")
            console.answers = []  # the console is back, the shipper in its backoff
            assert served.terminate() == 0
        assert set(console.received) == set(ids)
        assert "every recorded execution is shipped" in served.output()
    finally:
        running.stop()


def weir_run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "weir.cli", "run", str(HELLO), "--input", '{"name": "Ada"}', *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )


def test_weir_run_ships_its_execution_before_exiting(tmp_path: Path) -> None:
    console = FakeConsole()
    running = InThread(console)
    try:
        store = f"sqlite:///{tmp_path}/cron.db"
        done = weir_run("--store", store, env={"WEIR_CONSOLE_URL": running.url})
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == {"greeting": "Hello, Ada!"}
        (shipped,) = console.received.values()
        assert shipped[-1]["status"] == "succeeded" and shipped[-1]["flow"] == "hello"
        assert [n["node"] for n in shipped[-1]["nodes"]] == ["greet", "answer"]
    finally:
        running.stop()


def test_weir_run_exits_3_when_the_console_does_not_take_it(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    store = f"sqlite:///{tmp_path}/cron.db"
    done = weir_run("--store", store, "--console", url, env={"WEIR_SHIP_WAIT": "1"})
    assert done.returncode == 3, done.stderr
    assert json.loads(done.stdout) == {"greeting": "Hello, Ada!"}
    assert f"could not be shipped to the console at {url} within 1s" in done.stderr
    assert "stays in the local store" in done.stderr

    # The next run on the same store ships both.
    console = FakeConsole()
    running = InThread(console)
    try:
        again = weir_run("--store", store, "--console", running.url)
        assert again.returncode == 0, again.stderr
        assert len(console.received) == 2
    finally:
        running.stop()


def test_bad_console_settings_are_usage_errors(tmp_path: Path) -> None:
    done = weir_run("--no-store", "--console", "ftp://nowhere")
    assert done.returncode == 2 and "--console='ftp://nowhere'" in done.stderr
    done = weir_run("--console", "http://127.0.0.1:1", "--no-store")
    assert done.returncode == 2 and "--no-store" in done.stderr
    done = weir_run("--no-store", env={"WEIR_CONSOLE_URL": "http://127.0.0.1:1"})
    assert done.returncode == 0, done.stderr  # from the environment: nothing to ship, fine
    store = f"sqlite:///{tmp_path}/s.db"
    done = weir_run(
        "--store", store, "--console", "http://127.0.0.1:1", env={"WEIR_SHIP_WAIT": "x"}
    )
    assert done.returncode == 2 and "WEIR_SHIP_WAIT='x'" in done.stderr


def test_a_console_away_at_sigterm_delays_the_exit_by_the_grace_at_most(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    store = f"sqlite:///{tmp_path}/runner.db"
    served = Served(ECHO, "--store", store, "--console", url, "--grace", "1")
    with served:
        post(served, 2)
        started = time.monotonic()
        assert served.terminate() == 0
        assert time.monotonic() - started < 3 + 2  # the 3 s shipping gets at least, and exit
    output = served.output()
    assert "recorded changes were not shipped to the console at " + url in output, output
    assert "stay in the local store" in output


def test_bad_outbox_settings_stop_weir_serve_with_exit_2(tmp_path: Path) -> None:
    import os

    done = subprocess.run(
        [sys.executable, "-m", "weir.cli", "serve", str(ECHO), "--console", "http://127.0.0.1:1"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "WEIR_OUTBOX_LIMIT": "lots"},
        cwd=ROOT,
    )
    assert done.returncode == 2 and "WEIR_OUTBOX_LIMIT='lots'" in done.stderr
