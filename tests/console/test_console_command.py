"""`weir console` as a user starts it, following examples/console/README.md: executions recorded
by `weir run` into a demo store, the console serving that store and the examples, a failed
execution found and replayed with a corrected input, a clean stop on SIGTERM; and the refusals
of bad command lines."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.console.client import ROOT
from tests.test_examples import weir

FLOW = "examples/console/flow.yaml"
GOOD = {"customer": "Ada", "lines": [{"sku": "A1", "qty": 2, "price": 9.5}]}
NO_PRICE = {"customer": "Bob", "lines": [{"sku": "A1", "qty": 2}]}


def started_console(*args: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "weir.cli", "console", "--port", "0", *args],
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ},
    )
    assert process.stderr is not None
    deadline = time.monotonic() + 30
    seen = []
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        seen.append(line)
        found = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
        if found:
            return process, found.group(1)
        if not line and process.poll() is not None:
            break
    process.kill()
    raise AssertionError("the console did not start:\n" + "".join(seen))


def test_the_console_example_end_to_end(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/demo.db"
    assert weir("run", FLOW, "-q", "--store", store, "--input", json.dumps(GOOD)).returncode == 0
    failed = weir("run", FLOW, "-q", "--store", store, "--input", json.dumps(NO_PRICE))
    assert failed.returncode == 1 and "has no field 'price'" in failed.stderr

    process, base = started_console("--store", store, "examples/")
    try:
        with httpx.Client(base_url=base, timeout=10) as client:
            assert client.get("/readyz").json()["ready"] is True
            listed = client.get("/api/v1/executions?flow=price-order&status=failed").json()
            (row,) = listed["items"]
            by_input = client.get(
                "/api/v1/executions", params={"jsonpath": '$.input.customer == "Bob"'}
            ).json()
            assert [item["id"] for item in by_input["items"]] == [row["id"]]
            corrected = {"customer": "Bob", "lines": [{"sku": "A1", "qty": 2, "price": 4.5}]}
            replay = client.post(
                f"/api/v1/executions/{row['id']}/replay", json={"input": corrected}
            )
            assert replay.status_code == 202, replay.text
            replay_id = replay.json()["id"]
            deadline = time.monotonic() + 10
            while (view := client.get(f"/api/v1/executions/{replay_id}").json())["execution"][
                "status"
            ] == "running":
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert view["execution"]["status"] == "succeeded"
            assert view["execution"]["result"]["lines"] == [{"sku": "A1", "total": 9.0}]
            flows = {flow["name"] for flow in client.get("/api/v1/flows").json()["items"]}
            assert {"price-order", "hello", "code-example"} <= flows
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    listing = weir("executions", "list", "--store", store, "--flow", "price-order", "--json")
    assert len(json.loads(listing.stdout)) == 3  # the replay is in the same store


def test_bad_command_lines_are_refused() -> None:
    open_to_all = weir("console", "--host", "0.0.0.0", "--store", "sqlite:///:memory:")
    assert open_to_all.returncode == 2
    assert "loopback" in open_to_all.stderr and "Traceback" not in open_to_all.stderr
    missing = weir("console", "no/such/dir")
    assert missing.returncode == 2 and "no/such/dir" in missing.stderr
    both = weir("console", "--kube", "examples/")
    assert both.returncode == 2 and "--kube" in both.stderr
