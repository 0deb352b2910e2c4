"""The execution store: what is recorded comes back, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from weir.store import AmbiguousId, open_store
from weir.store.batches import Done
from weir.store.records import ExecutionRecord, NodeRunRecord
from weir.store.sql import SqlExecutionStore


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlExecutionStore]:
    if request.param == "postgresql":
        # A schema of its own: another suite or an older revision may share the database.
        opened = open_store(request.getfixturevalue("fresh_postgres_url"))
    else:
        opened = open_store(f"sqlite:///{tmp_path}/store.db")
    await opened.start()
    yield opened
    await opened.aclose()


def _execution(flow: str, id: str | None = None, **changes: object) -> ExecutionRecord:
    record = ExecutionRecord(
        id=id or uuid.uuid4().hex[:26],
        flow=flow,
        revision="abc",
        trigger_kind="manual",
        trigger={"input": {"n": 1}},
        status="running",
        started_at=time.time(),
    )
    for name, value in changes.items():
        setattr(record, name, value)
    return record


def _node(execution_id: str, seq: int, output: object) -> NodeRunRecord:
    now = time.time()
    return NodeRunRecord(
        execution_id=execution_id,
        seq=seq,
        node=f"step{seq}",
        kind="transform",
        status="succeeded",
        started_at=now,
        finished_at=now + 0.002,
        attempts=[{"attempt": 1, "durationMs": 2.0, "error": None}],
        input={"seq": seq},
        output=output,
    )


async def test_an_execution_and_its_node_runs_come_back_in_order(store: SqlExecutionStore) -> None:
    flow = f"f-{uuid.uuid4().hex[:8]}"
    record = _execution(flow)
    store.record_execution(record)
    for seq in range(3):
        store.record_node(_node(record.id, seq, {"value": [seq, "ü"]}))
    record.status, record.finished_at, record.result = "succeeded", time.time(), {"ok": True}
    store.record_execution(record)
    await store.flush()

    found = await store.get_execution(record.id)
    assert found is not None
    execution, nodes = found
    assert execution.status == "succeeded" and execution.result == {"ok": True}
    assert execution.trigger == {"input": {"n": 1}}
    assert [n.node for n in nodes] == ["step0", "step1", "step2"]
    assert nodes[2].output == {"value": [2, "ü"]} and nodes[2].attempts[0]["attempt"] == 1


async def test_listing_filters_by_flow_and_status_newest_first(store: SqlExecutionStore) -> None:
    flow = f"f-{uuid.uuid4().hex[:8]}"
    older = _execution(flow, status="failed", started_at=time.time() - 60)
    newer = _execution(flow, status="succeeded")
    other = _execution(f"other-{flow}", status="succeeded")
    for record in (older, newer, other):
        store.record_execution(record)
    await store.flush()

    assert [r.id for r in await store.list_executions(flow=flow)] == [newer.id, older.id]
    assert [r.id for r in await store.list_executions(flow=flow, status="failed")] == [older.id]
    assert len(await store.list_executions(flow=flow, limit=1)) == 1


async def test_an_id_prefix_finds_one_execution_or_names_the_candidates(
    store: SqlExecutionStore,
) -> None:
    stem = uuid.uuid4().hex[:12]
    first, second = _execution("f", id=stem + "aaaa"), _execution("f", id=stem + "bbbb")
    store.record_execution(first)
    store.record_execution(second)
    await store.flush()

    found = await store.get_execution(stem + "a")
    assert found is not None and found[0].id == first.id
    with pytest.raises(AmbiguousId, match=stem):
        await store.get_execution(stem)
    assert await store.get_execution("nothing-like-this") is None


async def test_values_above_the_limit_are_kept_as_a_truncated_preview(tmp_path: Path) -> None:
    store = SqlExecutionStore(f"sqlite+aiosqlite:///{tmp_path}/s.db", value_limit=100)
    await store.start()
    record = _execution("f")
    store.record_execution(record)
    store.record_node(_node(record.id, 0, "x" * 1000))
    await store.aclose()

    reopened = open_store(f"sqlite:///{tmp_path}/s.db")
    await reopened.start()
    found = await reopened.get_execution(record.id)
    await reopened.aclose()
    assert found is not None
    output = found[1][0].output
    assert output["$truncated"] is True and output["bytes"] == 1002
    assert output["preview"].startswith('"xxx')


async def test_closing_writes_everything_recorded(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    store = open_store(url)
    await store.start()
    record = _execution("f")
    store.record_execution(record)
    for seq in range(1200):  # more than one batch
        store.record_node(_node(record.id, seq, seq))
    await store.aclose()

    reopened = open_store(url)
    await reopened.start()
    found = await reopened.get_execution(record.id)
    await reopened.aclose()
    assert found is not None and len(found[1]) == 1200


async def test_records_wait_and_are_written_once_the_database_answers_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqlExecutionStore(f"sqlite+aiosqlite:///{tmp_path}/s.db", interval=0.01)
    await store.start()
    start = store._commits.start
    failures = []

    def flaky(batch: list[Any], done: Done) -> None:
        if len(failures) < 2:
            failures.append(batch)
            error = ConnectionError("database is restarting")
            asyncio.get_running_loop().call_soon(done, error)
            return
        start(batch, done)

    monkeypatch.setattr(store._commits, "start", flaky)
    monkeypatch.setattr("weir.store.writer.INITIAL_RETRY_DELAY", 0.01)
    record = _execution("f")
    store.record_execution(record)
    await store.flush()
    assert len(failures) == 2
    found = await store.get_execution(record.id)
    await store.aclose()
    assert found is not None


def test_an_unsupported_store_url_is_refused_with_its_password_hidden() -> None:
    with pytest.raises(ValueError, match=r"mysql://app:\*\*\*@db/x"):
        open_store("mysql://app:secret@db/x")


async def test_attempt_start_times_read_as_iso_text_even_from_older_records(
    store: SqlExecutionStore,
) -> None:
    """Records written before attempts carried ISO text held epoch seconds: read alike."""
    record = _execution("iso-times")
    store.record_execution(record)
    old = _node(record.id, 1, {"ok": True})
    old.attempts = [
        {"attempt": 1, "startedAt": 1_700_000_000.5, "durationMs": 2.0, "error": None},
        {"attempt": 2, "startedAt": "2023-11-14T22:13:21+00:00", "durationMs": 1.0, "error": None},
    ]
    store.record_node(old)
    await store.flush()
    found = await store.get_execution(record.id)
    assert found is not None
    (node,) = found[1]
    assert [a["startedAt"] for a in node.attempts] == [
        "2023-11-14T22:13:20.500000+00:00",
        "2023-11-14T22:13:21+00:00",
    ]
