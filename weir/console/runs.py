"""Starting and cancelling executions from the console: the `Runs` protocol and `LocalRuns`,
which runs them in this process with the engine, over the flow files the console was given.

In a cluster, `ClusterRuns` (cluster_runs.py) creates FlowRun resources instead, and the
operator runs them as Jobs from the flow's runner pod template.

A local run is recorded into the console's own store like any other execution (it is the same
engine `weir run` uses); it is cancelled by cancelling its task, which the engine records as
``cancelled``. A local run that parks (a sleep, a wait) is resumed by the console's waker
(``wake_parked``) when its wait comes due or is resolved, on the flow file as it now is.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from weir.console.flows import FlowSource
from weir.engine.children import TRIGGER_KIND as CHILD_TRIGGER
from weir.engine.children import LocalChildren, install_children
from weir.engine.events import ExecutionResult, OnRecorded, Replay, TriggerEvent
from weir.engine.execution import Execution
from weir.engine.executor import Engine
from weir.engine.replay import ReplayRefused, plan_replay
from weir.engine.resume import resumed_execution
from weir.engine.state_choice import state_url, use_state
from weir.engine.tasks import execution_task
from weir.engine.waker import Waker
from weir.flow.load import CompiledFlow
from weir.lang.errors import ConfigError
from weir.lang.ids import new_execution_id
from weir.secrets.redact import Redactor
from weir.secrets.store import local_resolver
from weir.store.base import RecordingUnavailable
from weir.store.records import ExecutionRecord
from weir.store.waits import Wait

log = logging.getLogger("weir.console")

RECORD_WAIT = 10.0
"""How long a start waits for the new execution's ``running`` record to commit."""


class UnknownFlow(LookupError):
    """No flow by that name (in that namespace) to run."""


class NotRunnable(ValueError):
    """The flow exists but cannot be run from here (an invalid file, say)."""


@dataclass(frozen=True)
class Started:
    execution_id: str
    flow_run: str | None = None
    """The FlowRun's name when a cluster runs it."""


class Runs(Protocol):
    async def start(
        self,
        flow: str,
        namespace: str,
        input: Any,
        *,
        replay_of: str | None = None,
        from_node: str | None = None,
        outputs: dict[str, Any] | None = None,
        parent: dict[str, Any] | None = None,
    ) -> Started:
        """Start a run of ``flow`` with ``input`` as its trigger payload, or a replay of the
        execution ``replay_of`` (``input`` None: its recorded payload), from ``from_node``
        with the recorded outputs before it, ``outputs`` replacing some of them. ``parent``:
        the run is a subflow's child, named so in ``$.trigger.parent``. Raises
        UnknownFlow, NotRunnable or ReplayRefused."""
        ...

    async def cancel(self, record: ExecutionRecord) -> bool:
        """Stop the execution if this backend runs it; False when it does not."""
        ...

    async def aclose(self) -> None: ...


class _WakeOnCommit(OnRecorded):
    """Calls ``notify`` once what the engine recorded is committed, so that event streams
    show a local run's progress at once instead of at the next poll."""

    def __init__(self, store: Any, notify: Callable[[], None]) -> None:
        super().__init__(self._changed)
        self.store = store
        self.notify = notify
        self._dirty = False
        self._task: asyncio.Task[None] | None = None

    def _changed(self) -> None:
        self._dirty = True
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        while self._dirty:
            self._dirty = False
            try:
                await self.store.durable(RECORD_WAIT)
            except RecordingUnavailable:
                return  # the poll notices the records once they are written
            self.notify()


class LocalRuns:
    def __init__(
        self,
        store: Any,
        flows: FlowSource,
        notify: Callable[[], None],
        *,
        secrets_dir: str | None = None,
        redactor: Redactor | None = None,
        grace: float = 0.0,
    ) -> None:
        self.store = store
        self.grace = grace
        self.flows = flows
        self.notify = notify
        self.engine = Engine(
            store=store,
            secrets=local_resolver(secrets_dir),
            redactor=redactor or Redactor(),
            listeners=[_WakeOnCommit(store, notify)],
        )
        use_state(self.engine, state_url(None))  # $WEIR_STATE_URL, checked by `weir console`
        self.running: dict[str, asyncio.Task[ExecutionResult]] = {}
        self.waker: Waker | None = None
        # Its subflow nodes run children found among the console's flows; its waker resumes
        # them (and their parents) like any local flow.
        self.children = install_children(LocalChildren(self.engine, self._child, in_process=False))

    async def _child(self, name: str) -> CompiledFlow:
        entry = await self.flows.get("", name)
        if entry is None or entry.compiled is None:
            state = "no" if entry is None else "no valid"
            raise ConfigError(f"subflow: {state} flow named {name!r} among the console's flows")
        return entry.compiled

    def wake_parked(self) -> None:
        """Resume the parked executions of the flows the console runs, as they come due."""
        self.waker = Waker(self.store.waits(), self._resume, flows=self._flow_names)
        self.children.poke = self.waker.poke
        self.waker.start()

    async def _flow_names(self) -> list[str]:
        return [
            entry.name
            for entry in await self.flows.entries(namespace=None, namespaces=None)
            if entry.compiled is not None
        ]

    async def _resume(self, wait: Wait) -> None:
        found = await self.store.get_execution(wait.execution_id, payloads=False)
        entry = None if found is None else await self.flows.get("", found[0].flow)
        if entry is None or entry.compiled is None:
            raise NotRunnable(f"execution {wait.execution_id}: its flow is not valid here now")
        execution = await resumed_execution(self.engine, entry.compiled, wait)
        task = asyncio.current_task()
        assert task is not None
        self.running[execution.id] = task
        try:
            await execution.run()
        finally:
            self.running.pop(execution.id, None)

    async def start(
        self,
        flow: str,
        namespace: str,
        input: Any,
        *,
        replay_of: str | None = None,
        from_node: str | None = None,
        outputs: dict[str, Any] | None = None,
        parent: dict[str, Any] | None = None,
    ) -> Started:
        entry = await self.flows.get(namespace, flow)
        if entry is None:
            raise UnknownFlow(f"no flow {flow!r} among the console's flow files")
        compiled = entry.compiled
        if compiled is None:
            reason = "; ".join(str(c.get("message", "")) for c in entry.conditions)
            raise NotRunnable(f"flow {flow!r} is invalid and cannot run: {reason}")
        event = TriggerEvent(kind="manual", payload=input)
        if parent is not None:
            event = TriggerEvent(kind=CHILD_TRIGGER, payload=input, meta={"parent": parent})
        replay: Replay | None = None
        if replay_of is not None:
            found = await self.store.get_execution(replay_of)
            if found is None or found[0].id != replay_of:
                raise ReplayRefused(f"no execution with id {replay_of!r} to replay")
            plan = plan_replay(compiled, found[0], found[1], start=from_node)
            for warning in plan.warnings:
                log.info("replay of %s: %s", replay_of, warning)
            event, replay = plan.event, plan.replay
            if input is not None:
                event.payload = input
            if outputs:
                unknown = sorted(set(outputs) - set(compiled.graph.nodes))
                if unknown:
                    raise ReplayRefused(f"outputs: flow {flow!r} has no node {unknown[0]!r}")
                replay.outputs.update(outputs)
        execution = Execution(self.engine, compiled, event, new_execution_id(), replay)
        execution.begin()
        task = execution_task(execution, execution.run())
        self.running[execution.id] = task
        task.add_done_callback(lambda _task: self.running.pop(execution.id, None))
        await self.store.durable(RECORD_WAIT)  # a GET right after the 202 finds it
        self.notify()
        return Started(execution.id)

    async def cancel(self, record: ExecutionRecord) -> bool:
        task = self.running.get(record.id)
        if task is None:
            return self.children.cancel(record.id)
        task.cancel()
        return True

    async def aclose(self) -> None:
        """Let runs finish for ``grace`` seconds, then cancel the rest (recorded cancelled)."""
        if self.waker is not None:
            await self.waker.stop()
        tasks = [*self.running.values(), *self.children.tasks.values()]
        if tasks and self.grace > 0:
            await asyncio.wait(tasks, timeout=self.grace)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.engine.resources.aclose()  # the store is the console's: it closes it
