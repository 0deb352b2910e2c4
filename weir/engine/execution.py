"""One execution: the graph walked for one trigger event, every node run recorded, the
execution's own record written when it starts and when it ends.

A failure without ``onError`` fails the execution and cancels the branches still running.

A node that raises ``Suspend`` parks: its run is recorded ``waiting`` with its wait (one
transaction), the other branches go on, and once nothing runs the execution is recorded
``waiting``. A runner continues it later from its records (weir.engine.resume).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from weir.engine.attempts import NodeAttempts
from weir.engine.events import ExecutionResult, Replay, TriggerEvent
from weir.engine.failures import ExecutionFailed, error_record
from weir.engine.foreach import run_for_each
from weir.engine.walk import GraphWalk, success_targets
from weir.flow.load import CompiledFlow
from weir.flow.model import NodeBase
from weir.lang.errors import NodeError, NodeTimeout
from weir.lang.expressions import ExpressionError
from weir.lang.types import SecretRef
from weir.nodes.spool import Spool
from weir.nodes.suspend import Suspend, WaitRequest
from weir.store.records import Attempt, ExecutionRecord, NodeRunRecord, Status, iso_time
from weir.store.wait_writes import Closed, Parked, recorder_of

if TYPE_CHECKING:
    from weir.engine.executor import Engine
    from weir.engine.resume import Continuation

log = logging.getLogger("weir.engine")

STOPPED = "stopped before it finished: the execution was cancelled, timed out, or failed elsewhere"


@dataclass(slots=True)
class _Outcome:
    output: Any = None
    error: NodeError | None = None
    wait: WaitRequest | None = None
    """Set when the node parked."""


def _cancelled() -> ExecutionFailed:
    return ExecutionFailed(NodeError("execution was cancelled", type="cancelled"))


class Execution:
    def __init__(
        self,
        engine: Engine,
        compiled: CompiledFlow,
        event: TriggerEvent,
        id: str,
        replay: Replay | None,
    ) -> None:
        self.engine = engine
        self.record: ExecutionRecord | None = None
        self.outcome: ExecutionResult | None = None
        """What ``run`` returned, or would have had it not been cancelled."""
        self.compiled = compiled
        self.flow_name = name = compiled.name  # a property two objects deep, read once
        self.graph = compiled.graph
        self.id = id
        self.event = event
        self.replay_of = replay.of if replay else None
        self.start = (replay.start if replay else None) or self.graph.start
        self.outputs: dict[str, Any] = dict(replay.outputs) if replay and replay.start else {}
        self.scope: dict[str, Any] = {
            "input": event.payload,
            "trigger": {"kind": event.kind, **event.meta},
            "nodes": self.outputs,
            "flow": {"name": name, "revision": compiled.revision},
            "execution": {"id": id},
        }
        self.walk = GraphWalk(self.graph)
        self.last_output: Any = None
        self.records: list[NodeRunRecord] = []
        self.parked: set[str] = set()
        """Nodes waiting: the execution ends ``waiting`` if any is when nothing runs."""
        self.continuation: Continuation | None = None
        """Set when resuming: where the walk goes on from (weir.engine.resume)."""
        engine.redactor.learn(compiled.revision, _secret_refs(compiled), engine.secrets)
        self.spool = Spool(prefix=f"weir-{id[-8:]}-")
        self.attempts = NodeAttempts(
            flow_name=name,
            execution_id=id,
            secrets=engine.secrets_of(compiled),
            resources=engine.resources,
            spool=self.spool,
            redactor=engine.redactor,
            log=log,
            state=engine.state,
        )

    def begin(self) -> ExecutionRecord:
        """Record the execution as running; ``run`` does it first unless it was done."""
        self.record = ExecutionRecord(
            id=self.id,
            flow=self.flow_name,
            revision=self.compiled.revision,
            trigger_kind=self.event.kind,
            trigger=self._redact({"payload": self.event.payload, **self.event.meta}),
            status=Status.RUNNING,
            started_at=time.time(),
            replay_of=self.replay_of,
        )
        self._emit_execution(self.record)
        return self.record

    def adopt(self, record: ExecutionRecord) -> None:
        """Continue a recorded execution (a resume): it runs again, on this revision."""
        record.status, record.finished_at = Status.RUNNING, None
        record.revision, record.error, record.result = self.compiled.revision, None, None
        self.record = record
        self._emit_execution(record)

    async def run(self) -> ExecutionResult:
        record = self.record or self.begin()
        status, result, failure = Status.SUCCEEDED, None, None
        try:
            timeout = self.compiled.flow.spec.timeout  # waiting time does not count
            if timeout is None:  # most flows have none: no timeout context to enter and leave
                await self._run_graph()
            else:
                async with asyncio.timeout(timeout):
                    await self._run_graph()
            if self.parked:
                status = Status.WAITING
            else:
                result = self._result()
        except ExecutionFailed as failed:
            status, failure = Status.FAILED, failed
        except TimeoutError:
            status = Status.FAILED
            failure = ExecutionFailed(NodeTimeout(f"flow timed out after {timeout:g}s"))
        except asyncio.CancelledError:
            status, failure = Status.CANCELLED, _cancelled()
            raise
        finally:
            self.spool.cleanup()
            outcome = self.outcome = self._finish(record, status, result, failure)
        return outcome

    def cancel_unstarted(self) -> None:
        """End as cancelled an execution whose task was cancelled before ``run`` began: a
        coroutine cancelled before its first step never runs its body (weir.engine.tasks)."""
        record = self.record or self.begin()
        self.outcome = self._finish(record, Status.CANCELLED, None, _cancelled())

    def _finish(
        self,
        record: ExecutionRecord,
        status: Status,
        result: Any,
        failure: ExecutionFailed | None,
    ) -> ExecutionResult:
        ended = time.time()
        record.status = status
        record.finished_at = None if status == Status.WAITING else ended
        if self.parked and status != Status.WAITING:
            store = recorder_of(self.engine.store)
            if store is not None:  # failed or cancelled meanwhile: its waits are void
                store.record_wait(Closed(self.id))
        error = failure.to_record() if failure else None
        if self.engine.redactor.active:  # most flows read no secret: the calls are skipped
            error, result = self._redact(error), self._redact(result)
        record.error, record.result = error, result
        self._emit_execution(record)
        outcome = ExecutionResult(
            self.id,
            self.flow_name,
            status,
            record.result,
            record.error,
            record.started_at,
            ended,
            self.records,
        )
        for listener in self.engine.listeners:
            listener.execution_finished(outcome)
        return outcome

    def _result(self) -> Any:
        expr = self.compiled.flow.spec.result
        if expr is None:
            return self.last_output
        try:
            return expr.evaluate(self.scope)
        except ExpressionError as exc:
            raise ExecutionFailed(NodeError(f"spec.result: {exc}", type="expression")) from None

    async def _run_graph(self) -> None:
        if self.continuation is None:
            ready = self.walk.begin(self.start, self.outputs)
        else:
            ready = self.continuation.start(self)
        running: dict[asyncio.Task[_Outcome], NodeBase] = {}
        try:
            while ready or running:
                if len(ready) == 1 and not running:
                    # The common linear case: no task needed.
                    node = self.graph.nodes[ready.pop()]
                    self._settle(node, await self._run_node(node), ready)
                    continue
                while ready:
                    node = self.graph.nodes[ready.pop()]
                    running[asyncio.create_task(self._run_node(node))] = node
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    self._settle(running.pop(task), task.result(), ready)
        finally:
            for task in running:
                task.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)

    def _settle(self, node: NodeBase, outcome: _Outcome, ready: list[str]) -> None:
        """Take the node's transitions and wake the successors whose joins are complete."""
        taken: list[str]
        if outcome.wait is not None:
            self.parked.add(node.name)  # its successors wait for it
            return
        if outcome.error is None:
            self.outputs[node.name] = outcome.output
            self.last_output = outcome.output
            try:
                taken = success_targets(node, outcome.output, self.scope)
            except NodeError as exc:
                outcome.error = exc
        if outcome.error is not None:
            if not node.onError:
                raise ExecutionFailed(outcome.error, node)
            self.scope["error"] = self._redact(error_record(outcome.error, node))
            taken = node.onError
        self.walk.finished(node.name, taken, ready)

    async def _run_node(self, node: NodeBase) -> _Outcome:
        started = time.time()
        attempts: list[Attempt] = []
        inputs: list[dict[str, Any]] = []
        outcome = _Outcome()
        try:
            if node.forEach is None:
                outcome.output = await self.attempts.run(node, self.scope, attempts, inputs)
            else:
                outcome.output = await run_for_each(
                    node,
                    self.scope,
                    lambda scope: self.attempts.run(node, scope, attempts, inputs),
                )
        except NodeError as exc:
            outcome.error = exc
        except Suspend as suspend:
            return await self._park(node, started, attempts, inputs, suspend.wait)
        except asyncio.CancelledError:
            # Stopped mid-run (a cancel, the flow's timeout, a failed branch): the run is
            # recorded, so that the execution shows which node was interrupted and for how long.
            stopped = NodeError(STOPPED, type="cancelled").to_dict()
            record = self._node_record(
                node, started, attempts, inputs, Status.CANCELLED, None, stopped
            )
            self._emit_node(record)
            raise
        self._record_node(node, started, attempts, inputs, outcome)
        return outcome

    async def _park(
        self,
        node: NodeBase,
        started: float,
        attempts: list[Attempt],
        inputs: list[dict[str, Any]],
        wait: WaitRequest,
    ) -> _Outcome:
        """Record the node waiting, with its wait; without a store a timer sleeps here."""
        outcome = _Outcome(wait=wait)
        store = recorder_of(self.engine.store)
        if store is None:
            outcome = await _wait_in_memory(node, wait)
        if outcome.wait is None:
            self._record_node(node, started, attempts, inputs, outcome)
            return outcome
        public = {
            "waitId": wait.id,
            "kind": wait.kind,
            "dueAt": None if wait.due_at is None else iso_time(wait.due_at),
            **wait.public,
        }
        record = self._node_record(node, started, attempts, inputs, Status.WAITING, public, None)
        assert store is not None
        store.record_wait(Parked(record, wait))
        for listener in self.engine.listeners:
            listener.node_finished(record)
        log.info(
            "execution %s: node %s waits (%s, due %s)",
            self.id,
            node.name,
            wait.kind,
            public["dueAt"] or "when resolved",
        )
        return outcome

    def _record_node(
        self,
        node: NodeBase,
        started: float,
        attempts: list[Attempt],
        inputs: list[dict[str, Any]],
        outcome: _Outcome,
    ) -> None:
        error = outcome.error.to_dict() if outcome.error else None
        status = Status.FAILED if error else Status.SUCCEEDED
        record = self._node_record(node, started, attempts, inputs, status, outcome.output, error)
        self._emit_node(record)

    def _emit_node(self, record: NodeRunRecord) -> None:
        if self.engine.store is not None:
            self.engine.store.record_node(record)
        for listener in self.engine.listeners:
            listener.node_finished(record)

    def _node_record(
        self,
        node: NodeBase,
        started: float,
        attempts: list[Attempt],
        inputs: list[dict[str, Any]],
        status: Status,
        output: Any,
        error: dict[str, Any] | None,
    ) -> NodeRunRecord:
        tries = [attempt.to_dict() for attempt in attempts]
        given = inputs[0] if len(inputs) == 1 else inputs
        redactor = self.engine.redactor
        if redactor.active:  # attempt errors too can quote secret values
            tries, given, output, error = (
                redactor(tries),
                redactor(given),
                redactor(output),
                redactor(error),
            )
        record = NodeRunRecord(
            execution_id=self.id,
            seq=len(self.records) + 1,
            node=node.name,
            kind=node.kind,
            status=status,
            started_at=started,
            finished_at=time.time(),
            attempts=tries,
            input=given,
            output=output,
            error=error,
        )
        self.records.append(record)
        return record

    def _emit_execution(self, record: ExecutionRecord) -> None:
        if self.engine.store is not None:
            self.engine.store.record_execution(record)
        if record.status == Status.RUNNING:
            for listener in self.engine.listeners:
                listener.execution_started(record)

    def _redact(self, value: Any) -> Any:
        return self.engine.redactor(value)


async def _wait_in_memory(node: NodeBase, wait: WaitRequest) -> _Outcome:
    """Without a store nothing survives the process: a timer that says its output sleeps in
    it (not durable); any other wait cannot be resumed, and fails."""
    if wait.kind == "timer" and "output" in wait.details:
        if wait.due_at is not None:
            await asyncio.sleep(max(0.0, wait.due_at - time.time()))
        return _Outcome(output=wait.details["output"])
    return _Outcome(
        error=NodeError(
            f"node {node.name} waits ({wait.kind}) and nothing records the wait: run with an "
            "execution store (not --no-store)",
            type="config",
        )
    )


def _secret_refs(compiled: CompiledFlow) -> Iterator[SecretRef]:
    # Walked only if the redactor has not learned this revision yet: walking every node of
    # the flow for each execution cost more than running a short node.
    yield from compiled.secret_refs()
