"""The runner's sweep of expired state keys: it deletes them round after round, and a round
that fails is logged and followed by the next."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from weir.serve.retention import sweep_state
from weir.store import open_store
from weir.store.sql import SqlExecutionStore


async def test_expired_keys_are_swept_while_live_ones_stay(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/store.db")
    await store.start()
    try:
        state = store.state()
        await state.set("flow:/f", "short", "1", 0.001)
        await state.set("flow:/f", "long", "1", 3600.0)
        sweeper = asyncio.create_task(sweep_state(state, every=0.01))
        try:
            async with asyncio.timeout(5):
                while await _keys(store) != ["long"]:
                    await asyncio.sleep(0.01)
        finally:
            sweeper.cancel()
    finally:
        await store.aclose()


async def _keys(store: SqlExecutionStore) -> list[str]:
    engine = store._started_engine()
    async with engine.connect() as connection:
        rows = await connection.exec_driver_sql("SELECT key FROM weir_state ORDER BY key")
        return [row[0] for row in rows]


class FailingOnce:
    def __init__(self) -> None:
        self.rounds = 0

    async def sweep(self) -> int:
        self.rounds += 1
        if self.rounds == 1:
            raise ConnectionError("database is away")
        return 3


async def test_a_failing_round_is_logged_and_the_next_one_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "weir.state")
    state = FailingOnce()
    sweeper = asyncio.create_task(sweep_state(state, every=0.01))
    async with asyncio.timeout(5):
        while state.rounds < 2:
            await asyncio.sleep(0.01)
    sweeper.cancel()
    messages = [record.getMessage() for record in caplog.records]
    assert "could not delete expired state keys: database is away" in messages
    assert "deleted 3 expired state keys" in messages
