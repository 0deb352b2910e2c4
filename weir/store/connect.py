"""How the store connects: one engine per store, SQLite connections set up for a shared file."""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def store_engine(url: str) -> AsyncEngine:
    engine = create_async_engine(url, pool_pre_ping=not url.startswith("sqlite"))
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    # WAL lets `weir executions` read while a runner writes; NORMAL syncs at checkpoints only,
    # which loses at most the last transactions on power loss, never corrupts.
    cursor = connection.cursor()
    cursor.execute("PRAGMA busy_timeout=5000")
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError as exc:
        # Connections opening a new file at once race to switch it, and SQLite refuses all but
        # one without waiting. WAL is a property of the file: the others read it from there.
        if "locked" not in str(exc):
            raise
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
