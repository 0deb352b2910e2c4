"""What an execution leaves behind: one record per execution and one per node run."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """How an execution stands, or how a node run ended (a node run only succeeds or fails).

    The values are the text records store; a ``StrEnum`` equals and serialises as that text.
    ``interrupted`` is never set by the engine: the store marks so an execution whose runner
    stopped (killed, crashed, lost its machine) while it ran (``weir.store.runners``).
    ``waiting``: an execution parked on a wait (a sleep, a person, a child flow), and the node
    run that parked it, until a runner resumes it (docs/durable-executions.md).
    """

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"
    WAITING = "waiting"


def iso_time(epoch: float) -> str:
    """A moment as ISO 8601 text in UTC, as records show every ``startedAt``: the text of
    ``datetime.fromtimestamp(epoch, UTC).isoformat()``, built from the text of its whole
    second, which is kept: formatting a datetime cost half a microsecond per node run."""
    global _last_second
    fraction, whole = math.modf(epoch)
    if epoch < 0:
        return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat()
    # datetime rounds to the microsecond half to even, as round() does.
    second, micro = int(whole), round(fraction * 1e6)
    if micro >= 1_000_000:
        second, micro = second + 1, micro - 1_000_000
    cached, text = _last_second
    if cached != second:
        text = dt.datetime.fromtimestamp(second, dt.UTC).isoformat().removesuffix("+00:00")
        _last_second = (second, text)
    return f"{text}.{micro:06d}+00:00" if micro else f"{text}+00:00"


_last_second: tuple[int, str] = (-1, "")


def iso_attempts(attempts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Attempts with ``startedAt`` as ISO text; records written before it was text held epoch
    seconds, read the same way now."""
    return [
        {**a, "startedAt": iso_time(a["startedAt"])}
        if isinstance(a, dict)
        and isinstance(a.get("startedAt"), int | float)
        and not isinstance(a.get("startedAt"), bool)
        else a
        for a in attempts
    ]


def error_type(error: Any) -> str | None:
    """An error record's ``type``, when it has a text one."""
    kind = error.get("type") if isinstance(error, dict) else None
    return kind if isinstance(kind, str) else None


@dataclass
class ExecutionRecord:
    id: str
    flow: str
    revision: str
    trigger_kind: str
    trigger: dict[str, Any]
    status: Status
    started_at: float
    finished_at: float | None = None
    error: dict[str, Any] | None = None
    result: Any = None
    replay_of: str | None = None
    namespace: str = ""
    """The Kubernetes namespace of the flow that ran it; empty outside a cluster. The store
    that records it stamps it (``WEIR_NAMESPACE``), the engine does not know it."""

    def __post_init__(self) -> None:
        self.status = Status(self.status)  # read back from a store as text

    @property
    def error_type(self) -> str | None:
        """The error's ``type`` (``timeout``, ``http`` …), what lists filter on."""
        return error_type(self.error)

    @property
    def duration_ms(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at) * 1000


@dataclass(slots=True)
class Attempt:
    """One try of a node (of one item, under forEach), kept typed while the node runs.

    ``error`` is the error as it stood when the attempt ended: what the engine adds to the
    node's error afterwards (the attempt count, the item) belongs to the node run, not to it.
    """

    number: int
    started_at: float
    finished_at: float
    error: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "attempt": self.number,
            "startedAt": iso_time(self.started_at),
            "durationMs": round((self.finished_at - self.started_at) * 1000, 3),
            "error": self.error,
        }


@dataclass
class NodeRunRecord:
    execution_id: str
    seq: int
    node: str
    kind: str
    status: Status
    started_at: float
    finished_at: float
    attempts: list[dict[str, Any]] = field(default_factory=list)
    input: Any = None
    output: Any = None
    error: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.status = Status(self.status)  # read back from a store as text

    @property
    def duration_ms(self) -> float:
        return (self.finished_at - self.started_at) * 1000

    @property
    def retries(self) -> int:
        """Attempts after a first one (under forEach, counted per item)."""
        return sum(1 for a in self.attempts if a.get("attempt", 1) > 1)
