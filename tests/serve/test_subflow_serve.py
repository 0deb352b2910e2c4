"""`weir serve` with a child flow next to its file: the child runs in the runner, parks on its
own sleep, and the runner's waker resumes it, then the parent — also when the runner was
killed (kill -9) while both waited and started again on the same store."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import httpx

from tests.runner.serving import Served
from tests.store.conftest import Reader

PARENT = """\
apiVersion: weir.dev/v1alpha1
kind: Flow
metadata: {name: parent}
spec:
  trigger: {rest: {path: /go}}
  nodes:
    - {name: call, subflow: {flow: napper, input: {n: $.input.n}}, next: done}
    - {name: done, transform: {set: {got: $.nodes.call.result.got}}}
"""

CHILD = """\
apiVersion: weir.dev/v1alpha1
kind: Flow
metadata: {name: napper}
spec:
  trigger: {manual: {}}
  nodes:
    - {name: nap, sleep: {for: 2s}, next: done}
    - {name: done, transform: {set: {got: $.input.n}}}
"""


def statuses(db: Path) -> dict[str, tuple[str, Any]]:
    with contextlib.closing(Reader(f"sqlite:///{db}")) as reader:  # waits for the writer
        rows = reader.rows("SELECT flow, status, result FROM weir_executions")
    return {flow: (status, result) for flow, status, result in rows}


def test_a_parked_child_and_its_parent_resume_after_the_runner_was_killed(
    tmp_path: Path,
) -> None:
    (tmp_path / "parent.yaml").write_text(PARENT)
    (tmp_path / "napper.yaml").write_text(CHILD)
    db = tmp_path / "store.db"
    first = Served(tmp_path / "parent.yaml", "--store", f"sqlite:///{db}")
    first.wait_ready()
    try:
        go = httpx.post(first.url + "/go", json={"n": 7}, timeout=30)
        assert go.status_code == 202 and go.json()["status"] == "waiting", go.text
        deadline = time.monotonic() + 10
        while statuses(db).get("napper", ("",))[0] != "waiting":
            assert time.monotonic() < deadline, statuses(db)
            time.sleep(0.05)
    finally:
        first.kill()  # both parked: nothing runs, nothing is lost
    assert {flow: s for flow, (s, _) in statuses(db).items()} == {
        "parent": "waiting",
        "napper": "waiting",
    }
    with Served(tmp_path / "parent.yaml", "--store", f"sqlite:///{db}") as second:
        second.wait_ready()
        deadline = time.monotonic() + 20
        while statuses(db)["parent"][0] != "succeeded":
            assert time.monotonic() < deadline, statuses(db)
            time.sleep(0.1)
    assert statuses(db)["napper"][0] == "succeeded"
    assert statuses(db)["parent"][1] == '{"got":7}'
