"""Acceptance of durable executions with real `weir serve` processes:

* a 5 s sleep survives its runner being killed (kill -9) and resumes once, on the runner
  started again on the same store: one node run waiting → succeeded, the execution succeeds;
* two replicas on one PostgreSQL store resume each of 100 sleeping executions exactly once,
  one replica killed and another restarted while the sleeps are pending or coming due.
"""

from __future__ import annotations

import datetime as dt
import json
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx

from tests.runner.serving import Served
from tests.store.conftest import Reader, reader_of

__all__ = ["reader_of"]  # the fixture, for these tests

FLOW = """\
apiVersion: weir.dev/v1alpha1
kind: Flow
metadata: {name: napper}
spec:
  trigger: {rest: {path: /nap}}
  nodes:
    - name: nap
      sleep: {until: "$.input.until"}
      next: count
    - name: count
      state: {op: increment, key: resumes}
"""


def until(seconds: float) -> str:
    return at(time.time() + seconds)


def at(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat().replace("+00:00", "Z")


def start(flow: Path, store: str) -> Served:
    served = Served(flow, "--store", store, "--grace", "30")
    served.wait_ready()
    return served


def post_nap(served: Served, until: str) -> str:
    answer = httpx.post(served.url + "/nap", json={"until": until}, timeout=30)
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["status"] == "waiting"
    execution_id: str = body["executionId"]
    return execution_id


def wait_for(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def node_runs(reader: Reader, execution_id: str) -> list[tuple[Any, ...]]:
    return reader.rows(
        "SELECT seq, node, status FROM weir_node_runs WHERE execution_id = ? ORDER BY seq",
        execution_id,
    )


def counter(reader: Reader) -> int:
    rows = reader.rows("SELECT value FROM weir_state WHERE key = 'resumes'")
    return int(json.loads(rows[0][0])) if rows else 0


def test_a_sleep_survives_a_killed_runner_and_resumes_once(tmp_path: Path, reader_of: Any) -> None:
    flow = tmp_path / "napper.yaml"
    flow.write_text(FLOW)
    store = f"sqlite:///{tmp_path}/store.db"
    first = start(flow, store)
    try:
        execution = post_nap(first, until(5))
        reader: Reader = reader_of(store)
        assert reader.status(execution) == "waiting"
        assert node_runs(reader, execution) == [(1, "nap", "waiting")]
    finally:
        first.kill()  # SIGKILL: nothing is flushed, nothing said
    time.sleep(1)
    assert reader.status(execution) == "waiting"
    second = start(flow, store)
    try:
        wait_for(lambda: reader.status(execution) == "succeeded", 20, "the resume")
        assert node_runs(reader, execution) == [(1, "nap", "succeeded"), (2, "count", "succeeded")]
        assert counter(reader) == 1
        [(state, fence)] = reader.rows(
            "SELECT state, fence FROM weir_waits WHERE execution_id = ?", execution
        )
        assert (state, fence) == ("resumed", 1)
        time.sleep(1.5)  # a second resume would show by now
        assert counter(reader) == 1
        metrics = httpx.get(second.url + "/metrics").text
        assert 'weir_waits_resumed_total{flow="napper",kind="timer"} 1.0' in metrics
    finally:
        assert second.terminate() == 0, second.output()


def test_two_replicas_resume_each_of_100_executions_once(
    tmp_path: Path, fresh_postgres_url: str, reader_of: Any
) -> None:
    flow = tmp_path / "napper.yaml"
    flow.write_text(FLOW)
    store = fresh_postgres_url
    replicas = [start(flow, store), start(flow, store)]
    reader: Reader = reader_of(store)
    executions: list[str] = []
    try:
        first_due = time.time() + 12
        for i in range(100):  # due over 2 s from first_due on
            executions.append(post_nap(replicas[i % 2], at(first_due + (i % 20) / 10)))
        # kill -9 one replica while every sleep is pending, start it again at once
        assert time.time() < first_due - 1, "parking 100 executions took too long"
        replicas[0].kill()
        replicas[0] = start(flow, store)
        # the other is restarted (SIGTERM, drained) while the sleeps come due
        wait_for(lambda: count(reader, "succeeded") >= 20, 30, "the first resumes")
        assert replicas[1].terminate() == 0, replicas[1].output()
        replicas[1] = start(flow, store)
        wait_for(lambda: count(reader, "succeeded") == 100, 60, "every execution to succeed")
        for execution in executions:
            assert node_runs(reader, execution) == [
                (1, "nap", "succeeded"),
                (2, "count", "succeeded"),
            ], execution
        waits = reader.rows("SELECT state, fence FROM weir_waits")
        assert len(waits) == 100 and {state for state, _ in waits} == {"resumed"}
        claims = sum(fence for _, fence in waits)
        # Each claim resumed at most once; one only taken back (its claimer killed) is claimed
        # again. The counter is one increment per resume that ran its next node.
        assert 100 <= counter(reader) <= claims
        assert claims == 100, "no claim was taken back: the kill came before any was due"
        time.sleep(1.5)
        assert counter(reader) == 100
    finally:
        for replica in replicas:
            replica.kill()


def count(reader: Reader, status: str) -> int:
    rows = reader.rows(
        "SELECT COUNT(*) FROM weir_executions WHERE flow = 'napper' AND status = ?", status
    )
    return int(rows[0][0])


def test_flow_text_is_valid() -> None:
    from weir.flow.load import load_flows_text

    [compiled] = load_flows_text(textwrap.dedent(FLOW))
    assert [n.name for n in compiled.flow.spec.nodes] == ["nap", "count"]
