"""Child flows through the console: what the `subflow` node does in a runner given a console
(``--console``/``WEIR_CONSOLE_URL``), as in a cluster where the runner has only its own flow.

``ConsoleChildren`` starts the child with ``POST /api/v1/flows/{name}/runs`` (its input and
the parent's identity), with the runner's bearer token; the console runs it (locally, or as a
FlowRun the operator turns into a Job). Child and parent do not share a store, so nothing
resolves the parent's wait in the child's final transaction: ``ChildWatch`` asks the console
(``GET /api/v1/executions/{child}``) every few seconds about each pending remote child wait
of the runner's flow — only while there are such waits — and resolves the wait in the
runner's store once the child ended, then pokes the waker. A child that outlives the wait's
timeout is left to the waker, which fails the node with type ``timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from typing import Any

from weir.engine.children import LocalChildren, finding, install_children, next_to, waits_of
from weir.engine.events import ExecutionResult
from weir.engine.executor import Engine
from weir.engine.flow_finder import FlowFinder, search_dirs
from weir.engine.resume import resumed_execution
from weir.engine.service import FlowService
from weir.engine.waker import Waker
from weir.flow.load import CompiledFlow
from weir.lang.errors import ConfigError, ConnectionFailed
from weir.nodes.child_flows import CHILD_FLOWS, ChildCall, child_resolution
from weir.serve.console_client import ConsoleClient, ConsoleUnavailable
from weir.store.waits import PENDING, AlreadyResolved, SqlWaits, UnknownWait, Wait

log = logging.getLogger("weir.serve")

INTERVAL = 3.0
"""Seconds between two asks about the remote children waited on."""
ENDED = ("succeeded", "failed", "cancelled")


class ConsoleChildren:
    """The ChildFlows of a runner linked to a console (weir.nodes.child_flows)."""

    durable = True
    remote = True

    def __init__(self, client: ConsoleClient, namespace: str, watch: ChildWatch) -> None:
        self.client = client
        self.namespace = namespace
        self.watch = watch

    async def start(self, call: ChildCall) -> str:
        namespace = call.namespace or self.namespace
        try:
            child_id = await self.client.start_run(call.flow, namespace, call.input, call.parent)
        except ConsoleUnavailable as exc:
            if exc.status == 404:
                where = f" in namespace {namespace!r}" if namespace else ""
                raise ConfigError(
                    f"subflow: no flow named {call.flow!r}{where} at the console {self.client.url}"
                ) from None
            raise ConnectionFailed(f"subflow: starting flow {call.flow!r}: {exc}") from None
        self.watch.wake()
        return child_id

    async def run_inline(self, call: ChildCall) -> dict[str, Any]:
        raise ConfigError("subflow: a child started through the console needs a store")


class ChildWatch:
    """Resolves this runner's waits on children that run elsewhere, once they end."""

    def __init__(
        self,
        waits: SqlWaits,
        client: ConsoleClient,
        flow: Callable[[], str],
        poke: Callable[[], None],
        interval: float = INTERVAL,
    ) -> None:
        self.waits = waits
        self.client = client
        self.flow = flow
        self.poke = poke
        self.interval = interval
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="weir-child-watch")

    def wake(self) -> None:
        """A remote child was started: watch it."""
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        rounds = 1  # at start: waits parked before a restart
        while True:
            self._wake.clear()
            left = 1
            try:
                left = await self.look()
            except Exception as exc:  # the store or the console may be away for a while
                log.warning("asking the console about child flows failed: %s", exc)
            rounds -= 1
            if left or rounds > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.interval):
                        await self._wake.wait()
            else:
                await self._wake.wait()  # none waited on: cost nothing until one starts
            if self._wake.is_set():
                rounds = 3  # a child just started: its parent's wait may not be committed yet

    async def look(self) -> int:
        """Resolve the waits whose child ended; how many remote child waits are still open."""
        waits = [
            w
            for w in await self.waits.waiting(flow=self.flow())
            if w.kind == "child" and w.state == PENDING and w.details.get("remote")
        ]
        resolved = 0
        for wait in waits:
            child_id = str(wait.details.get("childExecutionId"))
            try:
                child = await self.client.execution(child_id)
            except ConsoleUnavailable as exc:
                if exc.status != 404:  # not shipped yet: ask again later
                    log.warning("child %s of execution %s: %s", child_id, wait.execution_id, exc)
                continue
            status = child.get("status")
            if status not in ENDED:
                continue
            flow = str(child.get("flow") or wait.details.get("flow"))
            result = child_resolution(
                child_id, flow, str(status), child.get("result"), child.get("error")
            )
            with contextlib.suppress(AlreadyResolved, UnknownWait):
                await self.waits.resolve(result, f"child:{child_id}", wait_id=wait.id)
                resolved += 1
        if resolved:
            self.poke()
        return len(waits) - resolved


class RunnerChildren:
    """What `weir serve` installs for its subflow nodes: through the console when linked to
    one, else flows found next to the flow file (run on its engine, counted by its service)."""

    def __init__(self, service: FlowService, client: ConsoleClient | None) -> None:
        engine = service.engine
        self.service = service
        self.watch: ChildWatch | None = None
        self.local: LocalChildren | None = None
        self._waker: Waker | None = None
        self._finder = FlowFinder(search_dirs(service.path))
        self._find = finding(self._finder)
        self._called: tuple[str, list[str]] = ("", [])
        if client is None:
            # A child that parks is resumed by this runner's waker, like the flow's own.
            local = LocalChildren(engine, self._find, host=service.run_child, in_process=False)
            local.cancel_resumed = service.cancel
            self.local = install_children(local)
            return
        self.watch = console_children(engine, client, lambda: service.name, self._poke)

    def flows(self) -> list[str]:
        """What the waker resumes: the served flow, and locally the flows it calls (the
        children's own waits, also after a restart)."""
        served = self.service.flow
        if self.local is None:
            return [served.name]
        if self._called[0] != served.revision:
            self._called = (served.revision, self._finder.called_from(served))
        return [served.name, *self._called[1]]

    async def resume(self, wait: Wait) -> ExecutionResult:
        """Resume the served flow's execution, or a child's on the child's flow."""
        service = self.service
        if self.local is None or not self._called[1]:
            return await service.resume(wait)
        store = service.engine.store
        assert store is not None, "a waker runs only with a store"
        found = await store.get_execution(wait.execution_id, payloads=False)
        if found is None or found[0].flow == service.name:
            return await service.resume(wait)
        execution = await resumed_execution(service.engine, await self._find(found[0].flow), wait)
        return await service.run_child(execution)

    def _poke(self) -> None:
        if self._waker is not None:
            self._waker.poke()

    def attach(self, waker: Waker) -> None:
        """Resolved child waits wake ``waker``; the console is watched from now on."""
        self._waker = waker
        if self.local is not None:
            self.local.poke = waker.poke
        if self.watch is not None:
            self.watch.start()

    async def stop(self) -> None:
        if self.watch is not None:
            await self.watch.stop()


class RunChildren:
    """What `weir run` installs for its subflow nodes: through the console when one is given
    (``--console``/``WEIR_CONSOLE_URL``, as in a CronJob's pod) and there is a store, else flows
    found next to the flow file. ``finish`` waits in the process for the children either way."""

    def __init__(self, engine: Engine, flow: CompiledFlow, console_url: str | None) -> None:
        self.local = LocalChildren(engine, next_to(flow.file))
        self.client: ConsoleClient | None = None
        self.watch: ChildWatch | None = None
        if console_url is None or not self.local.durable:
            install_children(self.local)
            return
        self.client = ConsoleClient(console_url)
        self.watch = console_children(engine, self.client, lambda: flow.name, lambda: None)

    async def finish(self, flow: CompiledFlow, result: ExecutionResult) -> ExecutionResult:
        remote = None if self.watch is None else self.watch.look
        return await self.local.finish(flow, result, remote)

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.aclose()


def console_children(
    engine: Engine, client: ConsoleClient, flow_name: Callable[[], str], poke: Callable[[], None]
) -> ChildWatch:
    """Children started through the console, for ``engine``'s subflow nodes; the watch that
    learns how they end and resolves the parents' waits."""
    watch = ChildWatch(waits_of(engine.store), client, flow_name, poke)
    children = ConsoleChildren(client, os.environ.get("WEIR_NAMESPACE", ""), watch)
    engine.resources.get(CHILD_FLOWS, lambda: children)
    return watch
