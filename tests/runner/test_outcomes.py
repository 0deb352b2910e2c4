"""Typed outcomes: statuses as an enum that stores the same text as ever, one error type that
becomes the recorded JSON only when a record is written, and the typed attempt record."""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.runner import kinds, test_store
from weir.engine.executor import Engine, TriggerEvent
from weir.flow.load import load_flows_text
from weir.lang.errors import NodeError, NodeTimeout
from weir.store.records import Attempt, ExecutionRecord, NodeRunRecord, Status
from weir.store.sql import SqlExecutionStore

sql_store = test_store.store  # the fixture: a SQLite store, then a PostgreSQL one

FLOW = """
apiVersion: weir.dev/v1alpha1
kind: Flow
metadata: {name: NAME}
spec:
  trigger: {manual: {}}
  nodes:
    - name: push
      extension: {kind: test.flaky, config: {key: outcomes, failures: 1, retryable: false}}
      onError: park
    - name: park
      extension: {kind: test.echo, config: {value: parked}}
"""


async def test_statuses_are_stored_as_the_same_text_and_read_back_typed(
    sql_store: SqlExecutionStore, tmp_path: Path
) -> None:
    store = sql_store
    kinds.CALLS.clear()
    engine = Engine(store=store)
    name = f"outcomes-{uuid.uuid4().hex[:8]}"  # PostgreSQL keeps earlier runs' executions
    result = await engine.execute(load_flows_text(FLOW.replace("NAME", name))[0], TriggerEvent())
    await store.flush()
    assert result.status is Status.SUCCEEDED and result.ok
    assert [node.status for node in result.nodes] == [Status.FAILED, Status.SUCCEEDED]

    # A filter on the stored text finds it: the enum was stored as its value, not its name.
    (listed,) = await store.list_executions(flow=name, status="succeeded")
    found = await store.get_execution(listed.id)
    assert found is not None
    record, nodes = found
    assert record.status is Status.SUCCEEDED
    assert [node.status for node in nodes] == [Status.FAILED, Status.SUCCEEDED]
    if store.dialect == "sqlite":
        with sqlite3.connect(tmp_path / "store.db") as db:
            stored = db.execute("SELECT status FROM weir_node_runs ORDER BY seq").fetchall()
        assert stored == [("failed",), ("succeeded",)]


def test_a_status_is_the_text_it_stands_for() -> None:
    assert Status.CANCELLED == "cancelled" and f"{Status.FAILED}" == "failed"
    assert json.dumps({"status": Status.RUNNING}) == '{"status": "running"}'
    record = NodeRunRecord("x", 1, "n", "http", "succeeded", 0.0, 1.0)  # type: ignore[arg-type]
    assert record.status is Status.SUCCEEDED
    with pytest.raises(ValueError, match="'done' is not a valid Status"):
        ExecutionRecord("x", "f", "r", "manual", {}, "done", 0.0)  # type: ignore[arg-type]


def test_the_recorded_error_keeps_its_shape_and_adds_retry_after_only_when_set() -> None:
    error = NodeError("busy", type="http", retryable=True, details={"status": 503})
    assert error.to_dict() == {"type": "http", "message": "busy", "retryable": True, "status": 503}
    waited = NodeError("busy", type="http", retryable=True, retry_after=2.5)
    assert waited.to_dict()["retryAfter"] == 2.5
    assert NodeTimeout("slow").to_dict() == {
        "type": "timeout",
        "message": "slow",
        "retryable": True,
    }


def test_rewording_an_error_changes_what_it_says_everywhere() -> None:
    error = NodeError("failed")
    error.reword("item 2: failed")
    assert str(error) == error.message == error.to_dict()["message"] == "item 2: failed"


def test_an_attempt_is_recorded_as_before() -> None:
    error: dict[str, Any] = {"type": "http", "message": "m", "retryable": True}
    attempt = Attempt(2, 1714564800.0, 1714564800.25, error)
    assert attempt.to_dict() == {
        "attempt": 2,
        "startedAt": "2024-05-01T12:00:00+00:00",
        "durationMs": 250.0,
        "error": error,
    }
