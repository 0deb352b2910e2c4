"""What goes into an execution and what comes out: the trigger event, a replay request, the
result, and the hooks that watch executions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from weir.store.records import ExecutionRecord, NodeRunRecord, Status


@dataclass
class TriggerEvent:
    """What started an execution: the payload becomes ``$.input``, the rest ``$.trigger``."""

    kind: str = "manual"
    payload: Any = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Replay:
    """Re-run a recorded execution: in full, or from one node on with the recorded outputs of
    the nodes before it."""

    of: str
    start: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)


@dataclass
class ExecutionResult:
    """A finished execution, or one that parked (status ``waiting``: ``finished_at`` is when
    it parked); ``error`` and ``result`` are as recorded (secrets redacted)."""

    id: str
    flow: str
    status: Status
    result: Any
    error: dict[str, Any] | None
    started_at: float
    finished_at: float
    nodes: list[NodeRunRecord]

    @property
    def ok(self) -> bool:
        return self.status == Status.SUCCEEDED

    @property
    def duration_ms(self) -> float:
        return (self.finished_at - self.started_at) * 1000


class ExecutionListener:
    """Hooks for progress output and metrics; every method is optional."""

    def execution_started(self, record: ExecutionRecord) -> None:
        pass

    def node_finished(self, record: NodeRunRecord) -> None:
        pass

    def execution_finished(self, result: ExecutionResult) -> None:
        pass


class OnRecorded(ExecutionListener):
    """Calls ``changed`` whenever the engine records something (an execution starting, a node
    run, an execution finishing): what wakes a shipper or an event stream."""

    def __init__(self, changed: Callable[[], None]) -> None:
        self.changed = changed

    def execution_started(self, record: ExecutionRecord) -> None:
        self.changed()

    def node_finished(self, record: NodeRunRecord) -> None:
        self.changed()

    def execution_finished(self, result: ExecutionResult) -> None:
        self.changed()
