"""Schema migrations of the execution store: a store written before they existed keeps every
row and is upgraded; a fresh store (SQLite, PostgreSQL) gets the newest revision, which matches
the tables the store queries; concurrent starts upgrade once; a schema Weir does not know is
refused by name."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine

from weir.store import Interrupted, open_store
from weir.store.migrations import HEAD, StoreSchemaError, alembic_config, current_revisions
from weir.store.records import ExecutionRecord, NodeRunRecord
from weir.store.sql import SqlExecutionStore, metadata

DATA = Path(__file__).parent / "data"
LEGACY = DATA / "store-v0.1.0.sqlite"
"""Written by the code before migrations; DATA / make_store_v0_1_0.py says how."""


@pytest.fixture
def legacy_url(tmp_path: Path) -> str:
    copy = tmp_path / "legacy.sqlite"
    shutil.copyfile(LEGACY, copy)
    return f"sqlite:///{copy}"


async def _started(url: str) -> SqlExecutionStore:
    store = open_store(url)
    await store.start()
    return store


async def _on_connection(store: SqlExecutionStore, work: Any) -> Any:
    assert store._engine is not None
    async with store._engine.connect() as connection:
        return await connection.run_sync(work)


def _schema_differences(connection: Connection) -> list[Any]:
    return compare_metadata(MigrationContext.configure(connection), metadata)


def _fields(record: Any, expected: dict[str, Any]) -> dict[str, Any]:
    found = dataclasses.asdict(record)
    assert set(expected) <= set(found)
    return {name: found[name] for name in expected}


async def test_a_store_written_before_migrations_reads_back_identically(legacy_url: str) -> None:
    expected = json.loads((DATA / "store-v0.1.0.json").read_text())
    assert "alembic_version" not in _sqlite_tables(legacy_url)
    store = await _started(legacy_url)
    try:
        assert await _on_connection(store, current_revisions) == [HEAD]
        listed = await store.list_executions(limit=100)
        assert [r.id for r in listed] == [e["execution"]["id"] for e in reversed(expected)]
        for written in expected:
            found = await store.get_execution(written["execution"]["id"])
            assert found is not None
            execution, nodes = found
            assert _fields(execution, written["execution"]) == written["execution"]
            assert [_fields(n, w) for n, w in zip(nodes, written["nodes"], strict=True)] == (
                written["nodes"]
            )
        statuses = {e["execution"]["status"] for e in expected}
        replays = [e for e in expected if e["execution"]["replay_of"]]
        attempts = [len(n["attempts"]) for e in expected for n in e["nodes"]]
        assert statuses == {"succeeded", "failed"} and replays and max(attempts) == 3
        assert await _on_connection(store, _schema_differences) == []
    finally:
        await store.aclose()


async def test_an_upgraded_store_records_new_executions(legacy_url: str) -> None:
    store = await _started(legacy_url)
    record = ExecutionRecord(
        id=uuid.uuid4().hex[:26],
        flow="after-upgrade",
        revision="r2",
        trigger_kind="manual",
        trigger={"payload": {"n": 2}},
        status="succeeded",
        started_at=time.time(),
        finished_at=time.time() + 0.01,
        result={"ok": True},
    )
    node = NodeRunRecord(
        execution_id=record.id,
        seq=1,
        node="only",
        kind="transform",
        status="succeeded",
        started_at=record.started_at,
        finished_at=record.started_at + 0.001,
        attempts=[{"attempt": 1, "durationMs": 1.0, "error": None}],
        output={"ok": True},
    )
    store.record_execution(record)
    store.record_node(node)
    await store.aclose()

    reopened = await _started(legacy_url)
    try:
        found = await reopened.get_execution(record.id)
        assert found is not None
        assert found[0] == record and [n.output for n in found[1]] == [{"ok": True}]
        assert len(await reopened.list_executions(limit=100)) == 5
    finally:
        await reopened.aclose()


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
async def test_a_fresh_store_gets_the_newest_revision_matching_the_tables_queried(
    dialect: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        request.getfixturevalue("fresh_postgres_url")
        if dialect == "postgresql"
        else f"sqlite:///{tmp_path}/fresh.db"
    )
    store = await _started(url)
    try:
        assert await _on_connection(store, current_revisions) == [HEAD]
        assert await _on_connection(store, _schema_differences) == []
    finally:
        await store.aclose()


@pytest.mark.parametrize("start", ["fresh sqlite", "legacy sqlite", "fresh postgresql"])
async def test_concurrent_starts_upgrade_once(
    start: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = {
        "fresh sqlite": lambda: f"sqlite:///{tmp_path}/fresh.db",
        "legacy sqlite": lambda: request.getfixturevalue("legacy_url"),
        "fresh postgresql": lambda: request.getfixturevalue("fresh_postgres_url"),
    }[start]()
    started = await asyncio.gather(*(_started(url) for _ in range(6)), return_exceptions=True)
    stores = [s for s in started if isinstance(s, SqlExecutionStore)]
    try:
        assert stores == started
        assert await _on_connection(stores[0], current_revisions) == [HEAD]
        rows = len(await stores[0].list_executions(limit=100))
        assert rows == (4 if start == "legacy sqlite" else 0)
        if "sqlite" in start:  # the journal mode every connection of them tried to set
            with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
                assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        for store in stores:
            await store.aclose()


def test_head_names_the_newest_revision_alembic_finds() -> None:
    with create_engine("sqlite://").connect() as connection:
        script = ScriptDirectory.from_config(alembic_config(connection))
    assert script.get_heads() == [HEAD]
    assert [r.revision for r in script.walk_revisions()][-1] == "0001"


async def test_a_store_at_a_revision_weir_does_not_know_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/newer.db"
    await (await _started(url)).aclose()
    with sqlite3.connect(tmp_path / "newer.db") as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0999'")  # a newer Weir's
    store = open_store(url)
    with pytest.raises(StoreSchemaError, match=rf"revision '0999'.*newest is '{HEAD}'"):
        await store.start()
    await store.aclose()


async def test_a_database_with_only_one_of_the_tables_is_refused(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "half.db") as connection:
        connection.execute("CREATE TABLE weir_executions (id TEXT PRIMARY KEY)")
    store = open_store(f"sqlite:///{tmp_path}/half.db")
    with pytest.raises(StoreSchemaError, match="has weir_executions but not weir_node_runs"):
        await store.start()


def test_a_store_is_upgraded_by_hand(legacy_url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "weir.store.migrations", "upgrade", "--store", legacy_url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(f"schema revision {HEAD}")
    assert "alembic_version" in _sqlite_tables(legacy_url)


def _sqlite_tables(url: str) -> set[str]:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
        return {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}


async def test_executions_left_running_before_runners_were_tracked_are_interrupted(
    legacy_url: str,
) -> None:
    """Revision 0002 tracks runners; what a runner of before left running has none."""
    with sqlite3.connect(legacy_url.removeprefix("sqlite:///")) as connection:
        connection.execute(
            "INSERT INTO weir_executions (id, flow, revision, trigger_kind, trigger, status, "
            "started_at) VALUES ('left-running', 'old', 'r0', 'manual', '{}', 'running', 1.7e9)"
        )
    store = await _started(legacy_url)
    try:
        assert store.interrupted == [Interrupted("left-running", "old")]
        found = await store.get_execution("left-running")
        assert found is not None and found[0].status == "interrupted"
        assert len(await store.list_executions(status="succeeded", limit=100)) >= 1
    finally:
        await store.aclose()
