"""How the store connects: one engine per store, SQLite connections set up for a shared file.

A SQLite URL may say how hard a commit is synced: ``?synchronous=normal`` (the default) or
``?synchronous=full`` (docs/recording.md says what each survives).
"""

from __future__ import annotations

import functools

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from weir.store.sqlite_writer import sqlite_pragmas

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
