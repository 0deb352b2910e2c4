"""Runners shipping to the real console (weir.console, local mode, in a thread of the test):
`weir serve --console` with the console down at first, then restarted mid-load, lists every
execution once; `weir run --console` ships before it exits; a cancel asked through the console
stops a running execution within a second, recorded cancelled."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from tests.runner.serving import ROOT, Served, free_port
from tests.runner.test_serve import write_flow
from tests.serve.consoles import InThread, RealConsole, wait_until

ECHO = ROOT / "examples" / "webhook-echo" / "flow.yaml"
HELLO = ROOT / "examples" / "hello" / "flow.yaml"


def listed(url: str, flow: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{url}/api/v1/executions", params={"flow": flow, "limit": 200}, timeout=10)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def post(served: Served, n: int, ids: list[str]) -> None:
    for i in range(n):
        answer = httpx.post(served.url + "/echo", json={"i": i}, timeout=10)
        assert answer.status_code == 200, answer.text
        ids.append(answer.headers["X-Weir-Execution-Id"])


def test_every_execution_is_listed_once_across_a_console_down_then_restarted(
    tmp_path: Path,
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    console = RealConsole(f"sqlite:///{tmp_path}/console.db")
    runner_store = f"sqlite:///{tmp_path}/runner.db"
    with Served(ECHO, "--store", runner_store, "--console", url) as served:
        ids: list[str] = []
        post(served, 10, ids)  # the console is not up yet
        running = InThread(console, port)
        try:
            wait_until(lambda: len(listed(url, "webhook-echo")) == 10, what="the first 10")
            # Mid-load: the console stops and starts again while requests go on.
            load = threading.Thread(target=post, args=(served, 40, ids))
            load.start()
            time.sleep(0.3)
            running.call(console.stop())
            time.sleep(1.0)
            running.call(console.start(port))
            load.join(60)
            assert len(ids) == 50

            def all_there() -> bool:
                items = listed(url, "webhook-echo")
                return len(items) == 50 and all(i["status"] == "succeeded" for i in items)

            wait_until(all_there, what="all 50, finished")
            items = listed(url, "webhook-echo")
            assert sorted(i["id"] for i in items) == sorted(ids)  # each once
            detail = httpx.get(f"{url}/api/v1/executions/{ids[0]}").json()
            assert [n["node"] for n in detail["nodes"]] == ["echo"]
        finally:
            running.stop()


def test_weir_run_ships_to_the_console_before_it_exits(tmp_path: Path) -> None:
    import os

    running = InThread(RealConsole(f"sqlite:///{tmp_path}/console.db"))
    try:
        job = f"sqlite:///{tmp_path}/job.db"
        command = [sys.executable, "-m", "weir.cli", "run", str(HELLO), "-q"]
        done = subprocess.run(
            [*command, "--input", '{"name": "Ada"}', "--store", job, "--console", running.url],
            capture_output=True,
            text=True,
            timeout=120,
            env=os.environ,
            cwd=ROOT,
        )
        assert done.returncode == 0, done.stderr
        (item,) = listed(running.url, "hello")  # there at once: shipped before the exit
        assert item["status"] == "succeeded"
        detail = httpx.get(f"{running.url}/api/v1/executions/{item['id']}").json()
        assert detail["execution"]["result"] == {"greeting": "Hello, Ada!"}
    finally:
        running.stop()


def test_a_cancel_through_the_console_stops_a_running_execution_within_a_second(
    tmp_path: Path,
) -> None:
    flow = write_flow(
        tmp_path / "flow.yaml",
        "trigger: {rest: {path: /spin, mode: async}}",
        "- {name: spin, code: {script: 'while (true) {}', timeout: 1h}}",
    )
    running = InThread(RealConsole(f"sqlite:///{tmp_path}/console.db"))
    runner_store = f"sqlite:///{tmp_path}/runner.db"
    try:
        with Served(flow, "--store", runner_store, "--console", running.url) as served:
            accepted = httpx.post(served.url + "/spin", json={})
            assert accepted.status_code == 202, accepted.text
            execution_id = accepted.json()["executionId"]
            url = f"{running.url}/api/v1/executions/{execution_id}"
            wait_until(lambda: httpx.get(url).status_code == 200, what="shipped while running")
            assert httpx.get(url).json()["execution"]["status"] == "running"

            asked = time.time()
            answer = httpx.post(url + "/cancel")
            assert answer.status_code == 202, answer.text

            def cancelled() -> bool:
                return bool(httpx.get(url).json()["execution"]["status"] == "cancelled")

            wait_until(cancelled, timeout=5, what="recorded cancelled at the console")
            execution = httpx.get(url).json()["execution"]
            finished = dt.datetime.fromisoformat(execution["finishedAt"]).timestamp()
            assert finished - asked < 1.0  # stopped within a second
            assert execution["errorType"] == "cancelled"
            assert httpx.get(served.url + "/readyz").json()["inFlight"] == 0
    finally:
        running.stop()


def test_a_runner_killed_before_shipping_ships_after_its_restart(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    runner_store = f"sqlite:///{tmp_path}/runner.db"  # a pod's emptyDir survives a restart
    ids: list[str] = []
    with Served(ECHO, "--store", runner_store, "--console", url) as first:
        post(first, 20, ids)  # answered, so recorded; the console is not up
        first.kill()  # kill -9: no shutdown, nothing shipped
    running = InThread(RealConsole(f"sqlite:///{tmp_path}/console.db"), port)
    try:
        with Served(ECHO, "--store", runner_store, "--console", url):
            wait_until(lambda: len(listed(url, "webhook-echo")) == 20, what="all 20")
            items = listed(url, "webhook-echo")
            assert sorted(i["id"] for i in items) == sorted(ids)
            assert {i["status"] for i in items} == {"succeeded"}
    finally:
        running.stop()
