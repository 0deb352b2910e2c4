"""A console per test, in this process, over its own SQLite file (tests/console/client.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.console.client import Api, api_for, start_console
from weir.console.server import ConsoleServer


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[ConsoleServer]:
    server = await start_console(f"sqlite:///{tmp_path}/console.db")
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def api(console: ConsoleServer) -> AsyncIterator[Api]:
    async for client in api_for(console):
        yield client
