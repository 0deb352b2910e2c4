"""Turning a recorded execution back into a run: the same trigger payload, and for a replay
from one node, the recorded outputs of every node that finished before it.

Recorded values are redacted, so a replayed node that read a secret-bearing output sees the
redacted text; secrets themselves are resolved afresh (nodes reference them by name).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from weir.engine.events import Replay, TriggerEvent
from weir.engine.walk import downstream
from weir.flow.load import CompiledFlow, walk
from weir.lang.expressions import Expr
from weir.store.records import ExecutionRecord, NodeRunRecord, Status


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
    last_status: dict[str, Status] = {}
    for node in nodes:  # in run order: a later run of the same node wins
        last_status[node.node] = node.status
        if node.status == Status.SUCCEEDED:
            outputs[node.node] = node.output
        else:
            outputs.pop(node.node, None)
    _check_start(flow, record.id, start, outputs, last_status)
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


def _what_happened(name: str, last_status: dict[str, Status]) -> str:
    status = last_status.get(name)
    if status is None:
        return f"{name!r} did not run"
    if status in (Status.FAILED, Status.CANCELLED):
        return f"{name!r} {status}"
    return f"{name!r} has no output"


def _check_start(
    flow: CompiledFlow,
    execution: str,
    start: str,
    outputs: dict[str, Any],
    last_status: dict[str, Status],
) -> None:
    """Refuse a start node the recorded state cannot feed: one the execution never reached,
    or one that reads the output of a node that is not replayed and left none."""
    rerun = downstream(flow.graph, start)
    node = flow.graph.nodes[start]
    expressions = [value for _loc, value in walk(node, ()) if isinstance(value, Expr)]
    if any("error" in value.roots() for value in expressions):
        failed = [n for n in sorted(flow.graph.predecessors[start]) if n in last_status]
        earlier = f"from {failed[0]!r}" if len(failed) == 1 else "from the node that failed"
        raise ReplayRefused(
            f"cannot replay from {start!r}: it reads $.error, the error of the node that failed "
            f"before it, which a replay starting at {start!r} does not have; replay {earlier}, "
            "or in full"
        )
    read = sorted({ref for value in expressions for ref in value.node_refs()})
    missing = [name for name in read if name not in rerun and name not in outputs]
    if missing:
        what = "; ".join(_what_happened(name, last_status) for name in missing)
        outputs_of = ", ".join(repr(name) for name in missing)
        raise ReplayRefused(
            f"cannot replay from {start!r}: it reads the output of {outputs_of}, which execution "
            f"{execution} did not record ({what}); replay from an earlier node, or in full"
        )
    predecessors = sorted(flow.graph.predecessors[start])
    reached = (
        start == flow.graph.start
        or start in last_status
        or any(name in outputs for name in predecessors)
    )
    if not reached:
        what = ", ".join(_what_happened(name, last_status) for name in predecessors)
        raise ReplayRefused(
            f"cannot replay from {start!r}: execution {execution} never reached it ({what}); "
            "replay from an earlier node, or in full"
        )
