"""The execution store's contract; the SQL implementation serves SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from weir.store.records import ExecutionRecord, NodeRunRecord


class RecordingUnavailable(RuntimeError):
    """Records were not committed within the time a caller waits for them: the store does not
    answer. The records stay queued and are written once it does (unless the process ends)."""

    def __init__(self, message: str, execution_id: str | None = None) -> None:
        super().__init__(message)
        self.execution_id = execution_id


@dataclass(frozen=True, slots=True)
class Interrupted:
    """An execution the store marked ``interrupted``: its runner stopped while it ran."""

    id: str
    flow: str


InterruptedHook = Callable[[list[Interrupted]], None]


class ExecutionStore(Protocol):
    """Recording calls only queue; a background writer commits them in batches, and
    ``durable`` waits for the batch holding what was recorded so far."""

    async def start(self) -> None:
        """Bring the schema to the newest revision (see weir.store.migrations), mark the
        executions of runners that stopped as interrupted, and start the batch writer."""

    def record_execution(self, record: ExecutionRecord) -> None:
        """Insert or update (by id) an execution."""

    def record_node(self, record: NodeRunRecord) -> None:
        """Append one node run."""

    async def durable(self, timeout: float | None = None) -> None:
        """Return once everything recorded so far is committed; RecordingUnavailable if that
        takes longer than ``timeout`` seconds (the records stay queued)."""

    async def flush(self) -> None:
        """Write everything queued so far."""

    def on_interrupted(self, hook: InterruptedHook) -> None:
        """Call ``hook`` with the executions this store marked interrupted, those marked
        already and those it marks from now on."""

    async def aclose(self) -> None:
        """Flush, stop the writer and release connections."""

    async def list_executions(
        self, *, flow: str | None = None, status: str | None = None, limit: int = 20
    ) -> list[ExecutionRecord]: ...

    async def get_execution(
        self, execution_id: str, *, payloads: bool = True
    ) -> tuple[ExecutionRecord, list[NodeRunRecord]] | None:
        """By full id or unique prefix; node runs without input and output unless
        ``payloads``."""
