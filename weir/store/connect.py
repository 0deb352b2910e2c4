"""How the store connects: one engine per store, SQLite connections set up for a shared file.

A SQLite URL may say how hard a commit is synced: ``?synchronous=normal`` (the default) or
``?synchronous=full`` (docs/recording.md says what each survives).
"""

from __future__ import annotations

import functools
import sqlite3
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

SYNCHRONOUS = ("normal", "full")


def store_engine(url: str) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(parsed, pool_pre_ping=True)
    synchronous = sqlite_synchronous(parsed)
    engine = create_async_engine(parsed.difference_update_query(["synchronous"]))
    event.listen(engine.sync_engine, "connect", functools.partial(sqlite_pragmas, synchronous))
    return engine


def sqlite_synchronous(url: URL) -> str:
    """The SQLite ``synchronous`` level the URL asks for, as the pragma takes it."""
    synchronous = str(url.query.get("synchronous", "normal"))
    if synchronous not in SYNCHRONOUS:
        raise ValueError(
            f"synchronous={synchronous!r} in the execution store URL: use "
            + " or ".join(SYNCHRONOUS)
        )
    return synchronous.upper()


def sqlite_pragmas(synchronous: str, connection: Any, _record: Any) -> None:
    # WAL lets `weir executions` read while a runner writes. NORMAL syncs at checkpoints
    # only: a commit survives the process being killed, and a power loss may take the last
    # commits back (never corrupts); FULL syncs every commit, surviving a power loss too.
    cursor = connection.cursor()
    cursor.execute("PRAGMA busy_timeout=5000")
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError as exc:
        # Connections opening a new file at once race to switch it, and SQLite refuses all but
        # one without waiting. WAL is a property of the file: the others read it from there.
        if "locked" not in str(exc):
            raise
    cursor.execute(f"PRAGMA synchronous={synchronous}")
    cursor.close()
