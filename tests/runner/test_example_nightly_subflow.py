"""examples/nightly-subflow: `weir run` finds the child flow next to the parent's file, parks
the parent on it, runs the child (itself parked on a durable sleep) in the process, and
resumes the parent with the child's result; the records link both ways. `weir test` passes
on the example's test file, with the child mocked by the node's name."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.test_examples import EXAMPLES, weir

FLOW = str(EXAMPLES / "nightly-subflow" / "flow.yaml")


def test_weir_run_calls_the_child_flow_and_waits_for_it(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    done = weir(
        "run", FLOW, "--trigger", "cron", "--scheduled-time", "2026-11-25T03:00:00Z",
        "--store", str(store),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["exported"] == "orders-2026-11-25T03:00:00+00:00.csv"
    with sqlite3.connect(store) as db:
        rows = db.execute("SELECT id, flow, status, trigger_kind FROM weir_executions").fetchall()
        by_flow = {flow: (id_, status, kind) for id_, flow, status, kind in rows}
        parent_id = by_flow["nightly-subflow"][0]
        nodes = db.execute(
            "SELECT node, status FROM weir_node_runs WHERE execution_id = ? ORDER BY seq",
            (parent_id,),
        ).fetchall()
        [(trigger,)] = db.execute(
            "SELECT trigger FROM weir_executions WHERE flow = 'nightly-export'"
        ).fetchall()
    assert by_flow["nightly-subflow"][1:] == ("succeeded", "cron")
    assert by_flow["nightly-export"][1:] == ("succeeded", "subflow")
    assert result["child"] == by_flow["nightly-export"][0]
    assert nodes == [("window", "succeeded"), ("export", "succeeded"), ("announce", "succeeded")]
    parent = json.loads(trigger)["parent"]
    assert (parent["executionId"], parent["node"], parent["flow"]) == (
        parent_id,
        "export",
        "nightly-subflow",
    )


def test_weir_test_passes_on_the_example() -> None:
    done = weir("test", str(EXAMPLES / "nightly-subflow"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed, 0 failed" in done.stdout
