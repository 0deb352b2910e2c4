"""The flow a runner serves: its current revision, the executions in flight, reloads, draining.

A reload swaps the compiled flow in one assignment: an execution takes the revision current
when it starts and finishes on it, so in-flight work is never switched mid-way.

Executions in flight are kept by id, so that one can be cancelled (a user asked the console):
its task is cancelled, which aborts what its nodes await (an HTTP call, a script), and the
execution is recorded ``cancelled``; a caller waiting for it gets that outcome, not an error.

A parked execution that a waker claimed is resumed here (``resume``) like any other: counted in
flight, cancellable by id, drained at stop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from weir.engine.events import ExecutionResult, TriggerEvent
from weir.engine.execution import Execution
from weir.engine.executor import Engine
from weir.engine.metrics import RunnerMetrics
from weir.engine.resume import resumed_execution
from weir.engine.tasks import execution_task
from weir.flow.issues import FlowInvalid
from weir.flow.load import CompiledFlow, load_flow_file
from weir.lang.ids import new_execution_id
from weir.lang.settings import seconds_from_environment
from weir.secrets.resolve import Secrets
from weir.store.base import RecordingUnavailable
from weir.store.waits import Wait

log = logging.getLogger("weir.serve")

ReloadHook = Callable[[CompiledFlow, CompiledFlow], Any]
"""Called with (old, new) after a valid revision was swapped in."""
RECORD_WAIT = 10.0
"""How long a trigger waits for an execution's records to commit before it gives up on them
(HTTP: 503; RabbitMQ: the message goes back to the queue): ``WEIR_RECORD_WAIT`` seconds."""


def record_wait_from_environment() -> float:
    return seconds_from_environment("WEIR_RECORD_WAIT", RECORD_WAIT)


class FlowService:
    def __init__(
        self,
        path: str | Path,
        engine: Engine,
        metrics: RunnerMetrics,
        record_wait: float | None = None,
    ) -> None:
        self.path = Path(path)
        self.engine = engine
        self.metrics = metrics
        self.record_wait = record_wait_from_environment() if record_wait is None else record_wait
        if engine.store is not None:
            engine.store.on_interrupted(metrics.executions_interrupted)
        self.flow: CompiledFlow = load_flow_file(self.path)  # FlowInvalid propagates at start
        self.metrics.flow = self.flow.name
        self.reload_error: str | None = None
        self.stopping = False
        self.reload_hooks: list[ReloadHook] = []
        self._in_flight = 0
        self._counted = _InFlight(self)
        """Counts an execution in flight while it runs; draining waits for none to be."""
        self._idle = asyncio.Event()
        self._idle.set()
        self._background: set[asyncio.Task[ExecutionResult]] = set()
        self._running: dict[str, asyncio.Task[Any]] = {}
        self._cancel_requested: set[str] = set()

    @property
    def name(self) -> str:
        return self.flow.name

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def running(self) -> list[str]:
        """Ids of the executions running here."""
        return list(self._running)

    def secrets(self) -> Secrets:
        """Secrets of the current revision, for triggers that check credentials."""
        return self.engine.secrets_of(self.flow)

    async def execute(
        self, event: TriggerEvent, flow: CompiledFlow | None = None
    ) -> ExecutionResult:
        """Run one execution on the current revision (or the one given) and count it in flight.

        With ``recording: sync`` it returns once the execution's records are committed; if the
        store does not commit them within ``record_wait`` seconds it raises RecordingUnavailable
        (the records stay queued and are written once the store answers)."""
        flow = flow or self.flow
        with self._counted:
            execution = Execution(self.engine, flow, event, new_execution_id(), None)
            result = await self._run_here(execution)
            await self._recorded(flow, result.id)
            return result

    async def resume(self, wait: Wait) -> ExecutionResult:
        """Continue the execution that ``wait`` (claimed by this runner) parked, on the current
        revision; returns once it ended or parked again and its records are committed."""
        flow = self.flow
        with self._counted:
            execution = await resumed_execution(self.engine, flow, wait)
            log.info(
                "resuming execution %s at node %s (%s wait %s)",
                wait.execution_id,
                wait.node,
                wait.kind,
                wait.id,
            )
            self.metrics.resumed(wait.kind)
            result = await self._run_here(execution)
            await self._recorded(flow, result.id)
            return result

    async def run_child(self, execution: Execution) -> ExecutionResult:
        """Run a child flow's execution (weir.engine.children) like the flow's own: counted in
        flight, drained at stop, cancellable by id."""
        with self._counted:
            return await self._run_here(execution)

    async def _run_here(self, execution: Execution) -> ExecutionResult:
        """Run in the caller's task, cancellable by id; a cancel asked through ``cancel`` ends
        in the cancelled outcome, any other cancellation (the caller's) propagates."""
        task = asyncio.current_task()
        assert task is not None
        self._running[execution.id] = task
        try:
            return await execution.run()
        except asyncio.CancelledError:
            if execution.id not in self._cancel_requested or task.uncancel() > 0:
                raise
            assert execution.outcome is not None, "run records its outcome when cancelled"
            return execution.outcome
        finally:
            del self._running[execution.id]
            self._cancel_requested.discard(execution.id)

    def cancel(self, execution_id: str) -> bool:
        """Cancel an execution running here; False when none of that id is running."""
        task = self._running.get(execution_id)
        if task is None or task.done():
            return False
        if execution_id in self._cancel_requested:
            return True  # asked already: it is stopping
        self._cancel_requested.add(execution_id)
        task.cancel(f"execution {execution_id} was cancelled")
        log.info("cancelling execution %s", execution_id)
        return True

    async def accept(self, event: TriggerEvent, execution_id: str) -> None:
        """Start an execution the caller does not wait for (an async REST call). With
        ``recording: sync`` it returns once the execution's ``running`` record is committed,
        so that an accepted request always has its record; RecordingUnavailable after
        ``record_wait`` seconds (the execution runs on, and is recorded once the store answers).
        """
        flow = self.flow
        execution = Execution(self.engine, flow, event, execution_id, None)
        execution.begin()

        async def run() -> ExecutionResult:
            with self._counted:
                return await self._run_here(execution)

        task = execution_task(execution, run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        await self._recorded(flow, execution_id)

    async def _recorded(self, flow: CompiledFlow, execution_id: str) -> None:
        """With ``recording: sync``, wait until what the execution recorded so far is
        committed, so that whatever the trigger answers has its record (docs/recording.md)."""
        store = self.engine.store
        if store is None or flow.flow.spec.recording == "async":
            return
        try:
            await store.durable(self.record_wait)
        except RecordingUnavailable as exc:
            raise RecordingUnavailable(str(exc), execution_id=execution_id) from None

    async def reload(self) -> bool:
        """Load the file again; a valid revision replaces the current one, an invalid one is
        reported and ignored. Returns whether a new revision was swapped in."""
        try:
            # Off the event loop, so that health and executions go on while it compiles.
            new = await asyncio.to_thread(load_flow_file, self.path)
        except FlowInvalid as exc:
            message = "; ".join(str(issue) for issue in exc.issues)
            if message != self.reload_error:
                log.error(
                    "the flow file is invalid; still serving revision %s: %s",
                    self.flow.revision,
                    message,
                )
            self.reload_error = message
            self.metrics.reloads.labels("invalid").inc()
            self.metrics.flow_valid.set(0)
            return False
        self.metrics.flow_valid.set(1)
        self.reload_error = None
        if new.revision == self.flow.revision:
            return False
        refused = self._refuse(new)
        if refused:
            log.error("not reloading revision %s: %s", new.revision, refused)
            self.reload_error = refused
            self.metrics.reloads.labels("refused").inc()
            self.metrics.flow_valid.set(0)
            return False
        old, self.flow = self.flow, new
        self.metrics.flow = new.name
        self.metrics.reloads.labels("applied").inc()
        log.info("serving revision %s of flow %s (was %s)", new.revision, new.name, old.revision)
        for hook in self.reload_hooks:
            hook(old, new)
        return True

    def _refuse(self, new: CompiledFlow) -> str | None:
        old_kind = self.flow.flow.spec.trigger.kind
        new_kind = new.flow.spec.trigger.kind
        if old_kind != new_kind:
            return (
                f"the trigger changed from {old_kind} to {new_kind}; a runner serves one trigger "
                "kind, restart it (the operator does so by itself)"
            )
        return None

    async def drain(self, grace: float) -> bool:
        """Wait until no execution is in flight, at most ``grace`` seconds."""
        try:
            async with asyncio.timeout(grace):
                await self._idle.wait()
            return True
        except TimeoutError:
            log.warning(
                "%d executions still running after %.0fs; stopping anyway", self._in_flight, grace
            )
            return False


class _InFlight:
    """The service's count of executions in flight, as a context manager: one object reused
    by every execution (a generator-based one cost a new generator per request)."""

    __slots__ = ("service",)

    def __init__(self, service: FlowService) -> None:
        self.service = service

    def __enter__(self) -> None:
        service = self.service
        service._in_flight += 1
        service._idle.clear()

    def __exit__(self, *exc: object) -> None:
        service = self.service
        service._in_flight -= 1
        if service._in_flight == 0:
            service._idle.set()
