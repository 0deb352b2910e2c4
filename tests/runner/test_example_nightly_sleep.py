"""examples/nightly-sleep: `weir run` parks the execution on its 5 s sleep, waits in the
process, resumes the same execution and prints the report; the records show the sleep as one
node run, waiting → succeeded, and the wait resumed once."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from tests.test_examples import EXAMPLES, weir


def test_weir_run_sleeps_durably_and_resumes_itself(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    began = time.monotonic()
    done = weir(
        "run", str(EXAMPLES / "nightly-sleep" / "flow.yaml"), "--input", '{"team": "ops"}',
        "--store", str(store),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - began >= 5
    result = json.loads(done.stdout)
    assert result["team"] == "ops" and result["reportedAfter"].endswith("Z")
    assert "is waiting" in done.stderr and "⏸ quiet" in done.stderr
    with sqlite3.connect(store) as db:
        [(execution, status)] = db.execute("SELECT id, status FROM weir_executions").fetchall()
        nodes = db.execute(
            "SELECT seq, node, status FROM weir_node_runs WHERE execution_id = ? ORDER BY seq",
            (execution,),
        ).fetchall()
        waits = db.execute("SELECT state, fence FROM weir_waits").fetchall()
    assert status == "succeeded"
    assert nodes == [
        (1, "scheduled", "succeeded"),
        (2, "quiet", "succeeded"),
        (3, "report", "succeeded"),
    ]
    assert waits == [("resumed", 1)]
