"""Turning a recorded execution back into a run: the same trigger payload, and for a replay
from one node, the recorded outputs of every node that finished before it.

Recorded values are redacted, so a replayed node that read a secret-bearing output sees the
redacted text; secrets themselves are resolved afresh (nodes reference them by name).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from weir.flow.load import CompiledFlow
from weir.runner.engine import Replay, TriggerEvent
from weir.runner.records import ExecutionRecord, NodeRunRecord


class ReplayRefused(ValueError):
    """The recorded execution cannot be replayed with this flow or from this node."""


@dataclass
class ReplayPlan:
    event: TriggerEvent
    replay: Replay
    warnings: list[str] = field(default_factory=list)


def plan_replay(
    flow: CompiledFlow,
    record: ExecutionRecord,
    nodes: list[NodeRunRecord],
    start: str | None = None,
) -> ReplayPlan:
    if record.flow != flow.name:
        raise ReplayRefused(f"execution {record.id} is of flow {record.flow!r}, not {flow.name!r}")
    warnings = []
    if record.revision != flow.revision:
        warnings.append(
            f"the flow changed since execution {record.id} (revision {record.revision} → "
            f"{flow.revision}); replaying with the current definition"
        )
    meta = {k: v for k, v in record.trigger.items() if k != "payload"}
    event = TriggerEvent(kind=record.trigger_kind, payload=record.trigger.get("payload"), meta=meta)
    if start is None:
        return ReplayPlan(event, Replay(of=record.id), warnings)

    names = list(flow.graph.nodes)
    if start not in flow.graph.nodes:
        close = difflib.get_close_matches(start, names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f" (nodes: {', '.join(names)})"
        raise ReplayRefused(f"flow {flow.name!r} has no node {start!r}{hint}")
    outputs: dict[str, Any] = {}
    for node in nodes:  # in run order: a later run of the same node wins
        if node.status == "succeeded":
            outputs[node.node] = node.output
        else:
            outputs.pop(node.node, None)
    outputs.pop(start, None)
    truncated = sorted(
        name
        for name, value in outputs.items()
        if isinstance(value, dict) and value.get("$truncated") is True
    )
    if truncated:
        warnings.append(
            f"the recorded outputs of {', '.join(truncated)} were too large to keep and are "
            "replayed as truncated previews"
        )
    return ReplayPlan(event, Replay(of=record.id, start=start, outputs=outputs), warnings)
