"""The engine: runs a compiled flow's graph for one trigger event and records every node run.

Semantics (docs/flows.md):
* A node's transitions: ``next`` on success; ``when`` branches (CEL, first match) on success,
  else ``otherwise``; ``onError`` when it failed after its retries. Lists fan out concurrently.
* A node with several predecessors (a join) runs once every predecessor that was activated has
  finished; a predecessor whose branch was not taken is known to be dead and not waited for.
* A failure without ``onError`` fails the execution and cancels the branches still running.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from weir.engine.retry import RetryDecider
from weir.flow.load import CompiledFlow
from weir.flow.model import NodeBase
from weir.lang.errors import NodeError, NodeTimeout
from weir.lang.expressions import ExpressionError
from weir.lang.ids import new_execution_id
from weir.nodes import NODE_KINDS
from weir.nodes.context import NodeContext
from weir.nodes.resources import Resources
from weir.nodes.spool import Spool
from weir.secrets.redact import Redactor
from weir.secrets.resolve import LocalSecretResolver, SecretResolver, Secrets
from weir.store.base import ExecutionStore
from weir.store.records import ExecutionRecord, NodeRunRecord, iso_time

log = logging.getLogger("weir.engine")


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
    id: str
    flow: str
    status: str
    result: Any
    error: dict[str, Any] | None
    started_at: float
    finished_at: float
    nodes: list[NodeRunRecord]

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

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


class Engine:
    """Runs executions; owns the shared clients, the secret resolver and the store."""

    def __init__(
        self,
        *,
        store: ExecutionStore | None = None,
        secrets: SecretResolver | None = None,
        listeners: list[ExecutionListener] | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        self.store = store
        self.secrets = secrets or LocalSecretResolver()
        self.listeners = listeners or []
        self.redactor = redactor or Redactor()
        self.resources = Resources()

    async def execute(
        self,
        flow: CompiledFlow,
        event: TriggerEvent,
        *,
        execution_id: str | None = None,
        replay: Replay | None = None,
    ) -> ExecutionResult:
        run = _Execution(self, flow, event, execution_id or new_execution_id(), replay)
        return await run.run()

    async def aclose(self) -> None:
        await self.resources.aclose()
        if self.store is not None:
            await self.store.aclose()


class _Failed(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("message"))
        self.error = error


@dataclass
class _Outcome:
    output: Any = None
    error: NodeError | None = None


class _Execution:
    def __init__(
        self,
        engine: Engine,
        compiled: CompiledFlow,
        event: TriggerEvent,
        id: str,
        replay: Replay | None,
    ) -> None:
        self.engine = engine
        self.compiled = compiled
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
            "flow": {"name": compiled.name, "revision": compiled.revision},
            "execution": {"id": id},
        }
        self.pending = {name: set(preds) for name, preds in self.graph.predecessors.items()}
        self.activated: set[str] = set()
        self.last_output: Any = None
        self.records: list[NodeRunRecord] = []
        engine.redactor.learn(compiled.revision, compiled.secret_refs(), engine.secrets)
        self.secrets = Secrets(engine.secrets, engine.redactor, set(compiled.secret_names))
        self.spool = Spool(prefix=f"weir-{id[-8:]}-")
        self.log = logging.LoggerAdapter(log, {"flow": compiled.name, "execution": id})

    async def run(self) -> ExecutionResult:
        started = time.time()
        record = ExecutionRecord(
            id=self.id,
            flow=self.compiled.name,
            revision=self.compiled.revision,
            trigger_kind=self.event.kind,
            trigger=self._redact({"payload": self.event.payload, **self.event.meta}),
            status="running",
            started_at=started,
            replay_of=self.replay_of,
        )
        self._emit_execution(record)
        status, result, error = "succeeded", None, None
        try:
            timeout = self.compiled.flow.spec.timeout
            async with asyncio.timeout(timeout):
                await self._run_graph()
            result = self._result()
        except _Failed as failed:
            status, error = "failed", failed.error
        except TimeoutError:
            status = "failed"
            error = {
                "type": "timeout",
                "message": f"flow timed out after {timeout:g}s",
                "retryable": True,
            }
        except asyncio.CancelledError:
            status, error = "cancelled", {"type": "cancelled", "message": "execution was cancelled"}
            raise
        finally:
            self.spool.cleanup()
            finished = time.time()
            record.status, record.finished_at = status, finished
            record.error = self._redact(error)
            record.result = result = self._redact(result)
            self._emit_execution(record)
            outcome = ExecutionResult(
                self.id,
                self.compiled.name,
                status,
                result,
                record.error,
                started,
                finished,
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
            raise _Failed(
                {"type": "expression", "message": f"spec.result: {exc}", "retryable": False}
            ) from None

    async def _run_graph(self) -> None:
        ready = [self.start]
        self.activated.add(self.start)
        if self.start != self.graph.start:
            self._settle_outside_replay(ready)
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

    def _settle_outside_replay(self, ready: list[str]) -> None:
        """Replaying from a node: nodes it cannot reach count as they ended originally — a
        recorded output means it finished (its edges into the replayed part are taken)."""
        downstream = {self.start}
        stack = [self.start]
        while stack:
            for nxt in self.graph.successors[stack.pop()]:
                if nxt not in downstream:
                    downstream.add(nxt)
                    stack.append(nxt)
        for name in self.graph.nodes:
            if name in downstream:
                continue
            for successor in self.graph.successors[name]:
                if successor in downstream and successor != self.start:
                    self._resolve_edge(successor, name, name in self.outputs, ready)
        self.pending[self.start].clear()

    def _settle(self, node: NodeBase, outcome: _Outcome, ready: list[str]) -> None:
        """Take the node's transitions and wake the successors whose joins are complete."""
        taken: list[str]
        if outcome.error is None:
            self.outputs[node.name] = outcome.output
            self.last_output = outcome.output
            try:
                taken = self._success_targets(node, outcome.output)
            except NodeError as exc:
                outcome.error = exc
        if outcome.error is not None:
            error = {"node": node.name, "kind": node.kind, **outcome.error.to_dict()}
            if not node.onError:
                raise _Failed(self._redact(error))
            self.scope["error"] = self._redact(error)
            taken = node.onError
        for successor in self.graph.successors[node.name]:
            self._resolve_edge(successor, node.name, successor in taken, ready)

    def _success_targets(self, node: NodeBase, output: Any) -> list[str]:
        if not node.when:
            return node.next
        scope = {**self.scope, "output": output}
        for i, branch in enumerate(node.when):
            try:
                matched = branch.condition.evaluate(scope)
            except ExpressionError as exc:
                raise NodeError(f"when[{i}]: {exc}", type="expression") from None
            if not isinstance(matched, bool):
                raise NodeError(
                    f"when[{i}]: condition {branch.condition.source!r} gave "
                    f"{type(matched).__name__}, not a boolean",
                    type="expression",
                )
            if matched:
                return [*node.next, *branch.next]
        return [*node.next, *node.otherwise]

    def _resolve_edge(self, target: str, source: str, taken: bool, ready: list[str]) -> None:
        pending = self.pending[target]
        pending.discard(source)
        if taken:
            self.activated.add(target)
        if pending:
            return
        if target in self.activated:
            ready.append(target)
        else:  # every predecessor is done and none chose it: the whole branch is dead
            for successor in self.graph.successors[target]:
                self._resolve_edge(successor, target, False, ready)

    async def _run_node(self, node: NodeBase) -> _Outcome:
        started = time.time()
        attempts: list[dict[str, Any]] = []
        inputs: list[dict[str, Any]] = []
        outcome = _Outcome()
        try:
            if node.forEach is None:
                outcome.output = await self._attempts(node, self.scope, attempts, inputs)
            else:
                outcome.output = await self._for_each(node, attempts, inputs)
        except NodeError as exc:
            outcome.error = exc
        finished = time.time()
        record = NodeRunRecord(
            execution_id=self.id,
            seq=len(self.records) + 1,
            node=node.name,
            kind=node.kind,
            status="failed" if outcome.error else "succeeded",
            started_at=started,
            finished_at=finished,
            attempts=self._redact(attempts),  # attempt errors can quote secret values
            input=self._redact(inputs[0] if len(inputs) == 1 else inputs),
            output=self._redact(outcome.output),
            error=self._redact(outcome.error.to_dict()) if outcome.error else None,
        )
        self.records.append(record)
        if self.engine.store is not None:
            self.engine.store.record_node(record)
        for listener in self.engine.listeners:
            listener.node_finished(record)
        return outcome

    async def _for_each(
        self, node: NodeBase, attempts: list[dict[str, Any]], inputs: list[dict[str, Any]]
    ) -> list[Any]:
        assert node.forEach is not None
        try:
            items = node.forEach.items.evaluate(self.scope)
        except ExpressionError as exc:
            raise NodeError(f"forEach.items: {exc}", type="expression") from None
        if not isinstance(items, list):
            raise NodeError(
                f"forEach.items must be a list, got {type(items).__name__}", type="config"
            )
        limit = asyncio.Semaphore(node.forEach.concurrency)

        async def one(index: int, item: Any) -> Any:
            async with limit:
                scope = {**self.scope, "item": item, "index": index}
                try:
                    return await self._attempts(node, scope, attempts, inputs)
                except NodeError as exc:
                    exc.details.setdefault("index", index)
                    exc.message = f"item {index}: {exc.message}"
                    raise

        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(one(i, item)) for i, item in enumerate(items)]
        except ExceptionGroup as group_error:  # the first failure cancelled the other items
            first = group_error.exceptions[0]
            raise first if isinstance(first, NodeError) else _as_node_error(first, node) from None
        return [task.result() for task in tasks]

    async def _attempts(
        self,
        node: NodeBase,
        scope: Mapping[str, Any],
        attempts: list[dict[str, Any]],
        inputs: list[dict[str, Any]],
    ) -> Any:
        kind = NODE_KINDS[node.kind]
        decider = RetryDecider(node.retry)
        number = 0
        while True:
            number += 1
            ctx = _context(self, node, scope, number)
            started = time.time()
            try:
                if node.timeout is None:
                    output = await kind.run(node.config, ctx)
                else:
                    async with asyncio.timeout(node.timeout):
                        output = await kind.run(node.config, ctx)
            except Exception as exc:  # every failure becomes a NodeError with retryability
                error = _as_node_error(exc, node)
                attempts.append(_attempt(number, started, error))
                delay = decider.delay_before_next(number, error)
                if delay is None:
                    inputs.append(ctx.input)
                    error.details.setdefault("attempts", number)
                    raise error from None
                self.log.info(
                    "node %s attempt %d failed (%s); retrying in %.2fs",
                    node.name,
                    number,
                    self.engine.redactor.text(error.message),
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            attempts.append(_attempt(number, started, None))
            inputs.append(ctx.input)
            return output

    def _emit_execution(self, record: ExecutionRecord) -> None:
        if self.engine.store is not None:
            self.engine.store.record_execution(record)
        if record.status == "running":
            for listener in self.engine.listeners:
                listener.execution_started(record)

    def _redact(self, value: Any) -> Any:
        return self.engine.redactor(value)


def _context(
    execution: _Execution, node: NodeBase, scope: Mapping[str, Any], attempt: int
) -> NodeContext:
    return NodeContext(
        node=node.name,
        flow_name=execution.compiled.name,
        execution_id=execution.id,
        scope=scope,
        secrets=execution.secrets,
        resources=execution.engine.resources,
        spool=execution.spool,
        attempt=attempt,
    )


def _attempt(number: int, started: float, error: NodeError | None) -> dict[str, Any]:
    return {
        "attempt": number,
        "startedAt": iso_time(started),
        "durationMs": round((time.time() - started) * 1000, 3),
        "error": error.to_dict() if error else None,
    }


def _as_node_error(exc: BaseException, node: NodeBase) -> NodeError:
    if isinstance(exc, NodeError):
        return exc
    if isinstance(exc, TimeoutError):
        limit = f" after {node.timeout:g}s" if node.timeout is not None else ""
        return NodeTimeout(f"timed out{limit}")
    if isinstance(exc, ExpressionError):
        return NodeError(str(exc), type="expression")
    if isinstance(exc, ImportError):
        missing = exc.name or str(exc)
        return NodeError(
            f"the {node.kind} node needs the Python package {missing!r}, which is not installed: "
            "install Weir with the extra for this node kind (docs/install.md)",
            type="config",
        )
    log.debug("unexpected error in node %s", node.name, exc_info=exc)
    return NodeError(f"{type(exc).__name__}: {exc}", type="internal")
