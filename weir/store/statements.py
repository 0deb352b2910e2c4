"""The SQL the batch writer runs with executemany, written once per store: compiling
statements per row costs more than the write (docs/recording.md)."""

from __future__ import annotations

import functools

from weir.store.rows import EXECUTION_COLUMNS, NODE_COLUMNS, placeholders
from weir.store.tables import executions, node_runs


class Statements:
    def __init__(self, dialect: str) -> None:
        self.dialect = dialect

    @functools.cached_property
    def upsert_executions(self) -> str:
        """Insert or replace by id. The same ON CONFLICT clause serves SQLite and PostgreSQL."""
        return self.insert_executions + " DO UPDATE SET " + _set_all(EXECUTION_COLUMNS, "id")

    @functools.cached_property
    def insert_executions(self) -> str:
        """Without what to do on a conflict by id: add ``DO NOTHING`` or ``DO UPDATE``."""
        names = ", ".join(EXECUTION_COLUMNS)
        return (
            f"INSERT INTO {executions.name} ({names}) "
            f"VALUES ({placeholders(self.dialect, len(EXECUTION_COLUMNS))}) ON CONFLICT (id)"
        )

    @functools.cached_property
    def record_nodes(self) -> str:
        """A node run is written once: one already there is from a batch written again because
        its commit went unconfirmed (a connection, or the writer process, lost at that
        instant)."""
        return self.insert_nodes + " ON CONFLICT (execution_id, seq) DO NOTHING"

    @functools.cached_property
    def insert_nodes(self) -> str:
        """Without what to do on a conflict by key."""
        return (
            f"INSERT INTO {node_runs.name} ({', '.join(NODE_COLUMNS)}) "
            f"VALUES ({placeholders(self.dialect, len(NODE_COLUMNS))})"
        )


def _set_all(names: list[str], key: str) -> str:
    return ", ".join(f"{n} = excluded.{n}" for n in names if n != key)
