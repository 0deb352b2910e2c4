"""Child flows on this engine: what the `subflow` node starts outside a cluster
(`weir run`, `weir serve`, `weir console` in local mode).

A child is found by name (weir.engine.flow_finder) and runs as its own execution on the same
engine and store, in a task of its own (``host`` runs it when a FlowService should count and
cancel it). Its trigger meta names the parent (``$.trigger.parent``). When a child whose
parent waits ends, ``_ChildEvents`` queues ``Resolved`` for the parent's wait right after the
child's final record, into the same store batch: whether the parent parked first or not, the
wait ends resolved, and a waker resumes the parent (poked once it is committed).

A parent that ends while children it waited on still run (cancelled, failed on another
branch, its wait timed out) cancels them: a cancel spreads down, never up.

Without a store there is no wait to park on: ``run_inline`` runs the child to its end inside
the parent's node (not durable).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

from weir.engine.events import ExecutionListener, ExecutionResult, TriggerEvent
from weir.engine.execution import Execution
from weir.engine.executor import Engine
from weir.engine.flow_finder import FlowFinder, search_dirs
from weir.engine.resume import resumed_execution
from weir.engine.tasks import execution_task
from weir.flow.load import CompiledFlow
from weir.lang.ids import new_execution_id
from weir.nodes.child_flows import CHILD_FLOWS, ChildCall, child_resolution
from weir.store.records import ExecutionRecord, Status
from weir.store.wait_writes import OPEN, RESOLVED, Resolved, recorder_of
from weir.store.waits import AlreadyResolved, SqlWaits, UnknownWait

log = logging.getLogger("weir.engine")

Host = Callable[[Execution], Awaitable[ExecutionResult]]
Remote = Callable[[], Awaitable[int]]
Find = Callable[[str], Awaitable[CompiledFlow]]
"""The flow of that name; ConfigError ``subflow: no flow named …`` when there is none."""
TRIGGER_KIND = "subflow"
POLL = 0.5
REMOTE_POLL = 3.0
"""Seconds between two asks about children running elsewhere, in `weir run`."""


class LocalChildren:
    """The ChildFlows of one engine (weir.nodes.child_flows)."""

    remote = False

    def __init__(
        self, engine: Engine, find: Find, *, host: Host | None = None, in_process: bool = True
    ) -> None:
        self.engine = engine
        self.find = find
        self.host = host
        self.in_process = in_process
        """Resume a child's own waits in its task (no waker serves the child's flow)."""
        self.durable = recorder_of(engine.store) is not None
        self.poke: Callable[[], None] | None = None
        """Tells the waker to look now (set by whoever runs one)."""
        self.cancel_resumed: Callable[[str], bool] = lambda _id: False
        """Cancels a child a waker resumed (its service's ``cancel``)."""
        self.tasks: dict[str, asyncio.Task[ExecutionResult]] = {}
        self.waited: dict[str, set[str]] = {}
        """Children each parent waits on, by the parent's execution id."""
        self.answered: set[str] = set()
        """Parents whose wait a child of theirs resolved here, not yet resumed here."""
        self._later: set[asyncio.Task[Any]] = set()
        if self.durable:
            engine.listeners.append(_ChildEvents(self))

    async def start(self, call: ChildCall) -> str:
        compiled = await self.find(call.flow)
        event = TriggerEvent(TRIGGER_KIND, call.input, {"parent": call.parent})
        execution = Execution(self.engine, compiled, event, new_execution_id(), None)
        execution.begin()  # its running record, before the parent's wait in the same batch
        if "waitId" in call.parent:
            self.waited.setdefault(call.parent["executionId"], set()).add(execution.id)
        task = execution_task(execution, self._run(execution, compiled))
        self.tasks[execution.id] = task
        task.add_done_callback(lambda _: self.tasks.pop(execution.id, None))
        parent_id = call.parent["executionId"]
        log.info("execution %s: started child flow %s as %s", parent_id, call.flow, execution.id)
        return execution.id

    async def run_inline(self, call: ChildCall) -> dict[str, Any]:
        compiled = await self.find(call.flow)
        event = TriggerEvent(TRIGGER_KIND, call.input, {"parent": call.parent})
        execution = Execution(self.engine, compiled, event, new_execution_id(), None)
        try:
            async with asyncio.timeout(call.timeout):
                result = await execution.run()
        except TimeoutError:
            message = f"child flow {call.flow!r} did not end within {call.timeout:g}s"
            about = {"childExecutionId": execution.id, "childFlow": call.flow}
            return {"error": {"type": "timeout", "message": message, **about}}
        return child_resolution(result.id, result.flow, result.status, result.result, result.error)

    def cancel(self, execution_id: str) -> bool:
        """Cancel a child running here; False when none of that id is."""
        task = self.tasks.get(execution_id)
        if task is None or task.done():
            return self.cancel_resumed(execution_id)
        task.cancel(f"execution {execution_id} was cancelled")
        return True

    async def finish(
        self, flow: CompiledFlow, result: ExecutionResult, remote: Remote | None = None
    ) -> ExecutionResult:
        """Resume ``result``'s execution here while what it waits on ends here: its timers,
        the children it waits on, their timeouts, and with ``remote`` (which resolves the
        waits on children elsewhere that ended, and counts those still open) the children
        elsewhere, asked about every ``REMOTE_POLL`` seconds. Returns it ended, or waiting on
        something only another process can end (a person): what `weir run` does."""
        waits, store = self._waits(), self.engine.store
        assert store is not None
        while result.status == Status.WAITING:
            away = 0 if remote is None else await remote()
            await store.durable()  # a child that ended has queued its parent's wait resolved
            open_waits = [w for w in await waits.of_execution(result.id) if w.state in OPEN]
            ready = [0.0 if w.state == RESOLVED else w.due_at for w in open_waits]
            times = [t for t in ready if t is not None]
            if away:
                times.append(time.time() + REMOTE_POLL)
            children = [self.tasks[c] for c in self.waited.get(result.id, ()) if c in self.tasks]
            if not times and not children:
                if result.id not in self.answered:
                    return result
                await asyncio.sleep(POLL / 10)  # its child's answer is queued: read it again
                continue
            pause = None if not times else max(0.0, min(times) - time.time())
            if children:
                ended, _ = await asyncio.wait(
                    children, timeout=pause, return_when=asyncio.FIRST_COMPLETED
                )
                if ended:
                    continue  # look again: its wait is resolved now
            elif pause:
                await asyncio.sleep(pause)
            for wait in open_waits:
                claimed = await waits.claim(wait.id, wait.execution_id)
                if claimed is not None:
                    self.answered.discard(result.id)
                    execution = await resumed_execution(self.engine, flow, claimed)
                    result = await execution.run()
                    break
            else:
                if not away:
                    await asyncio.sleep(POLL)  # not claimable yet (another runner holds it?)
        return result

    async def _run(self, execution: Execution, compiled: CompiledFlow) -> ExecutionResult:
        result: ExecutionResult | None = None
        try:
            result = await (self.host(execution) if self.host else execution.run())
            if result.status == Status.WAITING and self.in_process:
                result = await self.finish(compiled, result)
            return result
        except asyncio.CancelledError:
            if result is not None and result.status == Status.WAITING and execution.record:
                with contextlib.suppress(Exception):  # parked: cancelled with its waits
                    waits = self._waits()
                    if await asyncio.shield(waits.cancel_waits(execution.id)):
                        await asyncio.shield(tell_parent_cancelled(waits, execution.record))
            raise

    def _waits(self) -> SqlWaits:
        return waits_of(self.engine.store)

    def resolved(self) -> None:
        """A parent's wait was queued resolved: poke the waker once it is committed."""
        if self.poke is None or self.engine.store is None:
            return
        store, poke = self.engine.store, self.poke

        async def later() -> None:
            with contextlib.suppress(Exception):
                await store.durable()
            poke()

        self._later_task(later())

    def parent_ended(self, parent_id: str) -> None:
        for child in self.waited.pop(parent_id, ()):
            log.info("execution %s ended: cancelling its child %s", parent_id, child)
            if not self.cancel(child):  # parked, no task: cancelled in the store
                self._later_task(self._cancel_parked(child, parent_id))

    async def _cancel_parked(self, child: str, parent_id: str) -> None:
        try:
            await self._waits().cancel_waits(child, by=f"parent {parent_id} ended")
        except Exception as exc:  # the store may be away; the child stays parked
            log.warning("cancelling child %s of %s failed: %s", child, parent_id, exc)

    def _later_task(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._later.add(task)
        task.add_done_callback(self._later.discard)


class _ChildEvents(ExecutionListener):
    """Resolves a waiting parent when its child ends; cancels children of a parent that ended."""

    def __init__(self, children: LocalChildren) -> None:
        self.children = children
        self.parents: dict[str, dict[str, Any]] = {}
        """Parent info (with waitId) of the children running on this engine."""

    def execution_started(self, record: ExecutionRecord) -> None:
        # Also called when a child is resumed after a restart: its record names the parent.
        parent = record.trigger.get("parent") if isinstance(record.trigger, dict) else None
        if isinstance(parent, dict) and parent.get("waitId") and parent.get("executionId"):
            self.parents[record.id] = parent

    def execution_finished(self, result: ExecutionResult) -> None:
        if result.status == Status.WAITING:
            return
        children = self.children
        if not (self.parents or children.waited or children.answered):
            return  # no parent nor child runs here (most flows have no subflow node)
        children.answered.discard(result.id)
        if result.id in children.waited:
            children.parent_ended(result.id)
        parent = self.parents.pop(result.id, None)
        if parent is None:
            return
        children.waited.get(parent["executionId"], set()).discard(result.id)
        children.answered.add(str(parent["executionId"]))
        resolution = child_resolution(
            result.id, result.flow, result.status, result.result, result.error
        )
        store = recorder_of(children.engine.store)
        assert store is not None
        store.record_wait(
            Resolved(
                str(parent["waitId"]),
                str(parent["executionId"]),
                str(parent.get("node", "")),
                resolution,
                by=f"child:{result.id}",
            )
        )
        self.children.resolved()


async def tell_parent_cancelled(waits: SqlWaits, child: ExecutionRecord) -> bool:
    """A parked child cancelled through the store (no final record batch of its engine says
    so) resolves its parent's wait as cancelled; False if it has no waiting parent here."""
    parent = child.trigger.get("parent") if isinstance(child.trigger, dict) else None
    if not isinstance(parent, dict) or not parent.get("waitId"):
        return False
    error = {"type": "cancelled", "message": "execution was cancelled"}
    resolution = child_resolution(child.id, child.flow, Status.CANCELLED, None, error)
    try:
        await waits.resolve(resolution, f"child:{child.id}", wait_id=str(parent["waitId"]))
    except (AlreadyResolved, UnknownWait):
        return False  # the parent ended or was cancelled already
    return True


def next_to(flow_file: str | Path | None) -> Find:
    """Finds flows next to ``flow_file`` and in ``$WEIR_FLOWS_PATH``."""
    return finding(FlowFinder(search_dirs(flow_file)))


def finding(finder: FlowFinder) -> Find:
    """``finder``'s lookups off the event loop (they read and compile files)."""

    async def find(name: str) -> CompiledFlow:
        return await asyncio.to_thread(finder.find, name)

    return find


def install_children(children: LocalChildren) -> LocalChildren:
    """Make ``children`` what the engine's subflow nodes use."""
    children.engine.resources.get(CHILD_FLOWS, lambda: children)
    return children


def waits_of(store: Any) -> SqlWaits:
    """The waits of an engine's store (the SQL store has them; children need a store)."""
    waits: SqlWaits = getattr(store, "waits")()  # noqa: B009 - the SQL store's
    return waits
