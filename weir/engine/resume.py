"""Continuing a parked execution: same id, same record, node-run numbering goes on.

A runner that claimed a wait (weir.store.waits) resumes its execution on the flow revision it
serves. The scope is rebuilt from the records: ``input`` and ``trigger`` from the execution's,
each succeeded node's output by name — as recorded, so redacted values stay redacted; secrets
are read again from the secret store, never from records. The join state is replayed: each
recorded node, in the order it ended, takes its transitions again (``when`` conditions are
evaluated again on the recorded outputs). The parked node's run is then updated in place
(waiting → succeeded or failed) with the wait's outcome, and the walk goes on from there.

A recorded node that the revision lacks fails the execution with an error naming it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from weir.engine.events import ExecutionResult, TriggerEvent
from weir.engine.execution import Execution, _Outcome
from weir.engine.failures import ExecutionFailed
from weir.engine.walk import success_targets
from weir.flow.load import CompiledFlow
from weir.lang.errors import NodeError
from weir.store.records import NodeRunRecord, Status
from weir.store.wait_writes import RESUMED, TIMED_OUT, Resumed, recorder_of
from weir.store.waits import SqlWaits, Wait

log = logging.getLogger("weir.engine")


@dataclass(frozen=True, slots=True)
class WaitOutcome:
    """How a parked node ends when its execution resumes."""

    output: Any = None
    error: dict[str, Any] | None = None
    """The node fails with it (``type``, ``message`` …): its ``onError`` or the execution."""
    goto: list[str] | None = None
    """Transitions taken instead of the node's own (a timed-out wait's ``onTimeout``)."""
    ending: str = RESUMED


def outcome_of(wait: Wait) -> WaitOutcome:
    """A resolved wait ends as its result says (``{"output": …}`` or ``{"error": …}``); an
    unresolved timer with its ``details.output``; any other unresolved wait timed out: it
    takes ``details.onTimeout`` if it names nodes, else fails with a ``timeout`` error."""
    result = wait.result
    if isinstance(result, dict):
        error = result.get("error")
        if error is not None:
            if not isinstance(error, dict):
                error = {"type": "error", "message": str(error)}
            return WaitOutcome(error={"type": "error", "message": "failed", **error})
        return WaitOutcome(output=result.get("output"))
    if wait.kind == "timer":
        return WaitOutcome(output=wait.details.get("output"))
    targets = wait.details.get("onTimeout")
    if targets:
        output = {"timedOut": True, **(wait.details.get("timeoutOutput") or {})}
        return WaitOutcome(output=output, goto=list(targets), ending=TIMED_OUT)
    return WaitOutcome(
        error={"type": "timeout", "message": f"the {wait.kind} wait timed out", "retryable": False},
        ending=TIMED_OUT,
    )


class Continuation:
    """Where a resumed execution's walk starts: ``start`` replays the records, settles the
    parked node and returns the nodes ready to run."""

    def __init__(
        self, wait: Wait, nodes: list[NodeRunRecord], timed_out: dict[int, list[str]] | None = None
    ) -> None:
        self.wait = wait
        self.nodes = sorted(nodes, key=lambda record: record.seq)
        self.timed_out = timed_out or {}
        """The onTimeout targets an earlier wait took, by its node run's seq."""

    def start(self, execution: Execution) -> list[str]:
        graph, walk = execution.graph, execution.walk
        ready = walk.begin(graph.start, ())
        parked: NodeRunRecord | None = None
        for record in self.nodes:
            node = graph.nodes.get(record.node)
            if node is None:
                raise ExecutionFailed(
                    NodeError(
                        f"revision {execution.compiled.revision} of flow {execution.compiled.name} "
                        f"has no node {record.node!r}, which this execution ran: it cannot "
                        "resume on it",
                        type="config",
                    )
                )
            if record.seq == self.wait.seq:
                parked = record
            elif record.status == Status.WAITING:
                execution.parked.add(record.node)
            elif record.status == Status.SUCCEEDED:
                execution.outputs[record.node] = record.output
                execution.last_output = record.output
                taken = self.timed_out.get(record.seq) or success_targets(
                    node, record.output, execution.scope
                )
                walk.finished(record.node, taken, ready)
            elif record.status == Status.FAILED and node.onError:
                execution.scope["error"] = {
                    "node": node.name,
                    "kind": node.kind,
                    **(record.error or {}),
                }
                walk.finished(record.node, node.onError, ready)
        if parked is None or parked.node != self.wait.node:
            raise ExecutionFailed(
                NodeError(f"no waiting run of node {self.wait.node!r} (seq {self.wait.seq})")
            )
        done = {record.node for record in self.nodes}
        ready[:] = [name for name in ready if name not in done]
        self._settle(execution, parked, ready)
        return ready

    def _settle(self, execution: Execution, record: NodeRunRecord, ready: list[str]) -> None:
        """Update the parked node's run in place and take its transitions."""
        outcome = outcome_of(self.wait)
        redact = execution.engine.redactor
        record.status = Status.FAILED if outcome.error else Status.SUCCEEDED
        record.finished_at = time.time()
        record.output, record.error = redact(outcome.output), redact(outcome.error)
        store = recorder_of(execution.engine.store)
        if store is not None:
            store.record_wait(Resumed(record, self.wait.id, self.wait.fence, outcome.ending))
        for listener in execution.engine.listeners:
            listener.node_finished(record)
        node = execution.graph.nodes[record.node]
        if outcome.goto is not None:
            execution.outputs[node.name] = outcome.output
            execution.walk.finished(node.name, outcome.goto, ready)
            return
        error = None
        if outcome.error is not None:
            details = {k: v for k, v in outcome.error.items() if k not in ("type", "message")}
            details.pop("retryable", None)
            error = NodeError(
                str(outcome.error.get("message")),
                type=str(outcome.error.get("type")),
                details=details,
            )
        execution._settle(node, _Outcome(output=outcome.output, error=error), ready)


async def resumed_execution(engine: Any, flow: CompiledFlow, wait: Wait) -> Execution:
    """The execution ``wait`` parked, ready to ``run`` on ``flow``: its record says
    ``running`` again (recorded), on this revision."""
    store = engine.store
    found = await store.get_execution(wait.execution_id)
    if found is None:
        raise LookupError(f"no execution {wait.execution_id} for wait {wait.id}")
    record, nodes = found
    trigger = dict(record.trigger)
    event = TriggerEvent(
        kind=record.trigger_kind, payload=trigger.pop("payload", None), meta=trigger
    )
    execution = Execution(engine, flow, event, record.id, None)
    execution.records = sorted(nodes, key=lambda node: node.seq)
    timed_out = {
        w.seq: list(w.details["onTimeout"])
        for w in await store.waits().of_execution(record.id)
        if w.state == TIMED_OUT and w.details.get("onTimeout")
    }
    execution.continuation = Continuation(wait, execution.records, timed_out)
    execution.adopt(record)
    return execution


async def finish_in_process(
    engine: Any, flow: CompiledFlow, result: ExecutionResult, *, poll: float = 1.0
) -> ExecutionResult:
    """Resume ``result``'s execution here, each time a timer of it comes due, until it ends or
    waits for something else (a person, a child flow): what `weir run` does. Claims like a
    waker, so that another runner on the store never resumes it too."""
    waits: SqlWaits = engine.store.waits()
    while result.status == Status.WAITING:
        pending = [
            w for w in await waits.of_execution(result.id) if w.state in ("pending", "resolved")
        ]
        if not pending or any(w.state == "pending" and w.kind != "timer" for w in pending):
            return result
        soonest = min(w.due_at or 0.0 for w in pending)
        await asyncio.sleep(max(0.0, soonest - time.time()))
        await engine.store.durable()
        claimed = None
        for wait in pending:
            claimed = await waits.claim(wait.id, wait.execution_id)
            if claimed is not None:
                break
        if claimed is None:
            await asyncio.sleep(poll)  # not due yet, or another runner resumes it
            continue
        execution = await resumed_execution(engine, flow, claimed)
        result = await execution.run()
    return result
