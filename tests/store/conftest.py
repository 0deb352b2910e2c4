"""Stores of the suite's own: a SQLite file, or a fresh schema of the test PostgreSQL database
(`fresh_postgres_url` in tests/conftest.py: sweeps and counts see only the test's rows), and a plain second connection to read
what was committed, as another process would."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from weir.store import open_store
from weir.store.sql import SqlExecutionStore


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[SqlExecutionStore]:
    """A started store on each database (``store_url``), closed after the test."""
    opened = open_store(store_url)
    await opened.start()
    yield opened
    await opened.aclose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        url: str = request.getfixturevalue("fresh_postgres_url")
        return url
    return f"sqlite:///{tmp_path}/store.db"


class Reader:
    """A connection of its own, autocommitting: it sees what the store committed, no more."""

    def __init__(self, url: str) -> None:
        self.sqlite = url.startswith("sqlite")
        if self.sqlite:
            # A reader waits for the store's writer as the store does (busy timeout), also on
            # a loaded machine: the default 5 s ran out there once.
            self.connection: Any = sqlite3.connect(
                url.removeprefix("sqlite:///"), isolation_level=None, timeout=30
            )
        else:
            import psycopg

            self.connection = psycopg.connect(url, autocommit=True)

    def rows(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        if not self.sqlite:
            query = query.replace("?", "%s")
        cursor = self.connection.execute(query, params)
        return [] if cursor.description is None else list(cursor.fetchall())

    def status(self, execution_id: str) -> str | None:
        found = self.rows("SELECT status FROM weir_executions WHERE id = ?", execution_id)
        return found[0][0] if found else None

    def node_count(self, execution_id: str) -> int:
        query = "SELECT COUNT(*) FROM weir_node_runs WHERE execution_id = ?"
        return int(self.rows(query, execution_id)[0][0])

    @contextlib.contextmanager
    def write_lock_held(self) -> Iterator[None]:
        """Meanwhile, the store's writes wait (SQLite up to its busy timeout, then retry)."""
        self.hold_write_lock()
        try:
            yield
        finally:
            self.release()

    def hold_write_lock(self) -> None:
        """Until ``release``: the store's next write waits (SQLite up to its busy timeout)."""
        if self.sqlite:
            self.connection.execute("BEGIN IMMEDIATE")
        else:
            self.connection.autocommit = False
            self.connection.execute("LOCK TABLE weir_executions IN EXCLUSIVE MODE")

    def release(self) -> None:
        if self.sqlite:
            self.connection.execute("COMMIT")
        else:
            self.connection.commit()
            self.connection.autocommit = True

    def close(self) -> None:
        self.connection.close()


@pytest.fixture
def reader_of() -> Iterator[Any]:
    readers: list[Reader] = []

    def open_reader(url: str) -> Reader:
        readers.append(Reader(url))
        return readers[-1]

    yield open_reader
    for reader in readers:
        reader.close()
