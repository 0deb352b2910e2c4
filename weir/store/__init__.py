"""Where executions are recorded: ``open_store(url)`` picks SQLite or PostgreSQL; starting the
store upgrades its schema (``weir.store.migrations``)."""

from __future__ import annotations

import os
from pathlib import Path

from weir.secrets.redact import hide_password
from weir.store.base import ExecutionStore, Interrupted, RecordingUnavailable
from weir.store.migrations import StoreSchemaError
from weir.store.sql import AmbiguousId, SqlExecutionStore

__all__ = [
    "AmbiguousId",
    "ExecutionStore",
    "Interrupted",
    "RecordingUnavailable",
    "StoreSchemaError",
    "default_store_path",
    "open_store",
]


def default_store_path() -> Path:
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "weir" / "executions.db"


def open_store(url: str | None = None) -> SqlExecutionStore:
    """``sqlite:///file.db``, ``sqlite:///:memory:``, a bare path, or ``postgresql://...``;
    None means ``$WEIR_STORE`` or a SQLite file in the user data directory."""
    url = url or os.environ.get("WEIR_STORE") or str(default_store_path())
    if url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        return SqlExecutionStore("postgresql+psycopg://" + url.split("://", 1)[1])
    if url.startswith(("sqlite://", "sqlite+aiosqlite://")):
        path = url.split("://", 1)[1]
        _make_parent(path)
        return SqlExecutionStore("sqlite+aiosqlite://" + path)
    if "://" in url:
        raise ValueError(
            f"unsupported execution store URL {hide_password(url)!r}: use sqlite:///path/to/file.db, "
            "postgresql://user:password@host/db, or a file path"
        )
    Path(url).expanduser().parent.mkdir(parents=True, exist_ok=True)
    return SqlExecutionStore(f"sqlite+aiosqlite:///{Path(url).expanduser()}")


def _make_parent(path: str) -> None:
    # "sqlite:///relative.db" leaves "/relative.db"; "sqlite:////abs.db" leaves "//abs.db".
    file = path[1:] if path.startswith("/") else path
    if file and file != ":memory:":
        Path(file).expanduser().parent.mkdir(parents=True, exist_ok=True)
