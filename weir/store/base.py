"""The execution store's contract; the SQL implementation serves SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Protocol

from weir.store.records import ExecutionRecord, NodeRunRecord


class ExecutionStore(Protocol):
    """Recording calls only queue; a background writer persists them in batches."""

    async def start(self) -> None:
        """Bring the schema to the newest revision (see weir.store.migrations) and start the
        batch writer."""

    def record_execution(self, record: ExecutionRecord) -> None:
        """Insert or update (by id) an execution."""

    def record_node(self, record: NodeRunRecord) -> None:
        """Append one node run."""

    async def flush(self) -> None:
        """Write everything queued so far."""

    async def aclose(self) -> None:
        """Flush, stop the writer and release connections."""

    async def list_executions(
        self, *, flow: str | None = None, status: str | None = None, limit: int = 20
    ) -> list[ExecutionRecord]: ...

    async def get_execution(
        self, execution_id: str
    ) -> tuple[ExecutionRecord, list[NodeRunRecord]] | None:
        """By full id or unique prefix."""
