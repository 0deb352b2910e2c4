"""Retention: a console deletes executions beyond --retain-per-flow per flow and older than
--retain-days, never a running one, and counts what it deleted."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.console.client import Api, api_for, start_console, wire_execution

NOW = time.time()
OLD = 1_700_000_000.0  # November 2023


async def listed(api: Api) -> list[str]:
    page = await api.get("/api/v1/executions?limit=500")
    return sorted(row["id"] for row in page["items"])


async def until_listed(api: Api, expected: list[str]) -> None:
    async with asyncio.timeout(10):
        while await listed(api) != expected:
            await asyncio.sleep(0.05)


async def test_a_console_keeps_the_newest_per_flow_and_none_too_old(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/console.db"
    shipped = [
        *[wire_execution(f"new{n}", flow="orders", started=NOW - 60 + n) for n in range(4)],
        wire_execution("old0", flow="reports", started=OLD),
        wire_execution("old1", flow="reports", started=OLD + 1, status="running"),
    ]
    server = await start_console(store)
    async for api in api_for(server):
        await api.post("/api/v1/ingest", {"runner": "r", "executions": shipped})
    await server.stop()

    server = await start_console(store, retain_per_flow=2)
    try:
        async for api in api_for(server):
            await until_listed(api, ["new2", "new3", "old0", "old1"])
    finally:
        await server.stop()

    server = await start_console(store, retain_days=30)
    try:
        async for api in api_for(server):
            await until_listed(api, ["new2", "new3", "old1"])  # old1 is running: kept
            # Counted once the pass that deleted it returns, which can be after a list sees
            # the deletion committed.
            for _ in range(200):
                metrics = await api.get("/metrics")
                if "weir_console_pruned_executions_total 1.0" in metrics:
                    break
                await asyncio.sleep(0.05)
            assert "weir_console_pruned_executions_total 1.0" in metrics
    finally:
        await server.stop()
