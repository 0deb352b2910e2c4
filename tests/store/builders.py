"""Execution and node-run records for the store's tests, with only what a test cares about
given."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

from weir.store.records import ExecutionRecord, NodeRunRecord

_clock = itertools.count()


def execution(
    *,
    flow: str = "orders",
    status: str = "succeeded",
    started_at: float | None = None,
    duration: float | None = 0.25,
    payload: Any = None,
    result: Any = None,
    error: dict[str, Any] | None = None,
    namespace: str = "",
    trigger_kind: str = "manual",
    replay_of: str | None = None,
    id: str | None = None,
) -> ExecutionRecord:
    """Started one second after the previous one unless told: a list's order is known."""
    started = 1.7e9 + next(_clock) if started_at is None else started_at
    finished = None if status == "running" or duration is None else started + duration
    return ExecutionRecord(
        id=id or uuid.uuid4().hex[:26],
        flow=flow,
        revision="r1",
        trigger_kind=trigger_kind,
        trigger={"payload": payload if payload is not None else {}},
        status=status,
        started_at=started,
        finished_at=finished,
        error=error,
        result=result,
        replay_of=replay_of,
        namespace=namespace,
    )


def node(
    record: ExecutionRecord, seq: int, *, name: str = "shape", output: Any = None
) -> NodeRunRecord:
    return NodeRunRecord(
        execution_id=record.id,
        seq=seq,
        node=name,
        kind="transform",
        status="succeeded",
        started_at=record.started_at,
        finished_at=record.started_at + 0.001 * seq,
        attempts=[{"attempt": 1, "durationMs": 1.0, "error": None}],
        input={"seq": seq},
        output=output if output is not None else {"seq": seq},
    )
