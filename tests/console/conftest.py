"""A console per test, in this process, over its own SQLite file, or over a fresh PostgreSQL
schema for a test parametrized with ``indirect=["console"]`` (tests/console/client.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.console.client import Api, api_for, start_console
from weir.console.server import ConsoleServer


@pytest.fixture
async def console(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ConsoleServer]:
    kind = getattr(request, "param", "sqlite")
    if kind == "postgresql":
        store = request.getfixturevalue("fresh_postgres_url")
    else:
        store = f"sqlite:///{tmp_path}/console.db"
    server = await start_console(store)
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def api(console: ConsoleServer) -> AsyncIterator[Api]:
    async for client in api_for(console):
        yield client
