"""A polling trigger under `weir serve`: every ``interval`` it looks at its source, claims each
new item (``claims``) and starts one execution for it, up to ``limit`` per poll and
``concurrency`` at once.

* An item is marked ``done`` only once its execution's ``running`` record is committed
  (whatever the flow's ``recording``); a crash before that leaves it ``claimed``, and the next
  poller takes it again: every item starts at least once, an item in flight at a crash may
  start twice.
* An execution that cannot start releases its claim: the next poll tries the item again. One
  whose records the store did not commit in time (RecordingUnavailable) keeps its claim (the
  records are written once the store answers; after a crash the item is taken again).
* Only the holder of the flow's lease polls: one poller across replicas.
* A failing poll (a server down) is logged and counted (``weir_trigger_events_total`` with
  outcome ``poll_error``) and the next one tries again; the runner stays ready, as another
  replica would meet the same server.
* Once an execution ends, the source ``finish``es its item (``after``: delete or move a file,
  flag a message). An execution that parks (waiting) frees its place in ``concurrency``; its
  item is finished when it ends after being resumed by this runner.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any

from weir.engine.events import ExecutionListener, ExecutionResult, TriggerEvent
from weir.engine.service import FlowService
from weir.flow.load import CompiledFlow
from weir.flow.poll_triggers import PollSettings
from weir.lang.errors import ConnectionFailed, NodeError
from weir.lang.ids import new_execution_id
from weir.lang.settings import seconds_from_environment
from weir.nodes.context import NodeContext
from weir.nodes.spool import Spool
from weir.store.base import RecordingUnavailable
from weir.store.records import Status
from weir.triggers.kind import TriggerKind
from weir.triggers.poll.claims import Claims, Mark, new_holder
from weir.triggers.poll.source import Item, Source

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger("weir.trigger.poll")

LEASE = 30.0
"""Seconds the poller's lease lasts unless renewed (``WEIR_POLL_LEASE``): after a runner dies,
how long until another replica, or its restarted self, polls."""
SOON = 1.0
"""Seconds to the next look while files settle, if the interval is longer."""

SourceFactory = Callable[[FlowService, Any], Source]
"""Makes the source of a trigger spec (again after a reload that changed it)."""


def node_context(service: FlowService, spool: Spool | None = None) -> NodeContext:
    """What a node's code needs to connect for the trigger: the flow's secrets, the runner's
    shared clients; expressions in the trigger's fields see no execution."""
    return NodeContext(
        node="trigger",
        flow_name=service.name,
        execution_id="",
        scope={},
        secrets=service.secrets(),
        resources=service.engine.resources,
        spool=spool,
    )


def poll_kind(
    name: str, spec: type[PollSettings], source: SourceFactory, summary: str
) -> TriggerKind:
    """The registry entry of a polling trigger kind: a poller over ``source``."""
    return TriggerKind(
        name=name,
        spec=spec,
        runtime=lambda service, settings: Poller(service, name, source),
        summary=summary,
    )


class Poller(ExecutionListener):
    def __init__(self, service: FlowService, kind: str, make_source: SourceFactory) -> None:
        self.service = service
        self.kind = kind
        self.make_source = make_source
        self.live = False
        self.holding = False
        self.in_flight: dict[str, Item] = {}
        """Items whose executions run, by execution id."""
        self._known: set[str] = set()
        """Item keys found marked: no need to ask the store again while they are listed."""
        self._parked: dict[str, Item] = {}
        """Items whose executions parked, by execution id."""
        self._seen: set[str] = set()
        """Item keys found not marked (counted as ``seen`` once)."""
        self._spec: Any = None
        self._source: Source | None = None
        self._claims: Claims | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop_task: asyncio.Task[None] | None = None

    @property
    def spec(self) -> PollSettings:
        spec: PollSettings = getattr(self.service.flow.flow.spec.trigger, self.kind)
        return spec

    # -- the runtime

    def resources(self) -> Sequence[web.AbstractResource]:
        return ()

    def problem(self) -> str | None:
        if self.service.engine.state is None:
            return (
                f"a {self.kind} trigger keeps which items it started in the execution store; "
                "run weir serve with a store (not --no-store)"
            )
        return None

    def reloaded(self, old: CompiledFlow, new: CompiledFlow) -> None:
        pass  # each poll reads the current spec; a changed one makes a new source

    async def start(self) -> None:
        self.live = True
        state = self.service.engine.state
        if state is None:
            log.error("%s", self.problem())
            return
        self._claims = Claims(
            state,
            f"poll:{state.namespace}/{self.service.name}",
            remember=self.spec.remember,
            lease=seconds_from_environment("WEIR_POLL_LEASE", LEASE),
            holder=new_holder(),
        )
        self.service.engine.listeners.append(self)
        self._loop_task = asyncio.get_running_loop().create_task(self._loop(self._claims))

    async def stop(self) -> None:
        """Stop polling; executions in flight are left to the service's drain."""
        self.live = False
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
        if self._claims is not None and self.holding:
            try:
                await self._claims.release_lease()
            except Exception as exc:  # the lease then expires by itself
                log.warning("could not give up the poll lease: %s", exc)

    # -- polling

    async def _loop(self, claims: Claims) -> None:
        while True:
            delay = self.spec.interval
            try:
                if await self._lease(claims):
                    waiting = await self.poll(claims)
                    delay = min(delay, SOON) if waiting else delay
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._count("poll_error")
                log.warning("polling the %s trigger failed: %s", self.kind, exc)
            await asyncio.sleep(delay)

    async def _lease(self, claims: Claims) -> bool:
        held = await claims.hold_lease()
        if held != self.holding:
            log.info(
                "%s the %s poll lease of flow %s",
                "took" if held else "another runner holds",
                self.kind,
                self.service.name,
            )
        self.holding = held
        return held

    async def poll(self, claims: Claims) -> bool:
        """One poll; whether items are waiting to settle."""
        spec = self.spec
        capacity = min(spec.limit, (spec.concurrency or spec.limit) - len(self.in_flight))
        if capacity <= 0:
            return False
        source = self._current_source(spec)
        try:
            look = await source.look()
            listed = {item.key for item in look.items}
            self._known &= listed  # forget what is gone: the sets stay as large as a listing
            busy = {item.key for item in self.in_flight.values()}
            fresh = [i for i in look.items if i.key not in self._known and i.key not in busy]
            marks = await claims.marks([item.key for item in fresh]) if fresh else {}
            seen = {item.key for item in fresh if item.key not in marks} - self._seen
            self._count("seen", len(seen))
            self._seen = (self._seen & listed) | seen
            started = 0
            for item in fresh:
                if started >= capacity:
                    break
                mark = marks.get(item.key)
                if mark is not None and mark.state != "claimed":
                    self._known.add(item.key)
                elif (mark is None or claims.orphaned(mark)) and await claims.claim(item.key, mark):
                    self._count("claimed" if mark is None else "retaken")
                    started += await self._start(claims, source, item, mark)
        finally:
            await source.end()
        return look.waiting

    def _current_source(self, spec: Any) -> Source:
        if self._source is None or spec != self._spec:
            self._spec, self._source = spec, self.make_source(self.service, spec)
        return self._source

    async def _start(self, claims: Claims, source: Source, item: Item, mark: Mark | None) -> int:
        """Start the claimed item's execution; 1 if it started, else 0 (claim released)."""
        try:
            payload = await source.load(item)
        except (ConnectionFailed, OSError):
            await claims.release(item.key)
            raise  # the server went away: the poll fails, the next one tries again
        except NodeError as exc:  # this item cannot be an input (a message too large...)
            log.error("not starting %s: %s", item.key, exc)
            await claims.skip(item.key, str(exc))
            self._count("skipped")
            return 0
        if payload is None:  # gone since the look
            await claims.release(item.key)
            return 0
        execution_id = new_execution_id()
        self.in_flight[execution_id] = item
        try:
            await self.service.accept(
                TriggerEvent(kind=self.kind, payload=payload, meta=item.meta), execution_id
            )
            store = self.service.engine.store
            if store is not None:  # `recording: async` flows too: the record must exist
                await store.durable(self.service.record_wait)
        except RecordingUnavailable as exc:
            # It runs, and its records are written once the store answers: only then is the
            # item done. Should the runner die first, the claim stays and is taken again.
            log.warning("execution %s of %s is not recorded yet: %s", execution_id, item.key, exc)
            self._count("unrecorded")
            self._background(self._done_once_recorded(claims, item, execution_id))
            return 1
        except Exception as exc:
            self.in_flight.pop(execution_id, None)
            source.release(item)
            await claims.release(item.key)
            log.error("could not start an execution for %s: %s", item.key, exc)
            self._count("start_error")
            return 0
        await claims.done(item.key, execution_id)
        self._count("started")
        return 1

    async def _done_once_recorded(self, claims: Claims, item: Item, execution_id: str) -> None:
        store = self.service.engine.store
        assert store is not None
        await store.durable()
        await claims.done(item.key, execution_id)
        self._count("started")

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- executions ending (ExecutionListener)

    def execution_finished(self, result: ExecutionResult) -> None:
        item = self.in_flight.pop(result.id, None) or self._parked.pop(result.id, None)
        if item is None or self._source is None:
            return
        if result.status == Status.WAITING:
            # Parked (a sleep, a person): its slot is free; `after` waits for its real end,
            # here once this runner resumes it (resumed elsewhere, the item is left as it is).
            self._parked[result.id] = item
            return
        self._background(self._finish(self._source, item, result))

    async def _finish(self, source: Source, item: Item, result: ExecutionResult) -> None:
        try:
            await source.finish(item, result.ok)
        except Exception as exc:
            self._count("after_error")
            log.warning("after execution %s, handling %s failed: %s", result.id, item.key, exc)

    def _count(self, outcome: str, n: int = 1) -> None:
        if n:
            self.service.metrics.trigger(self.service.name, self.kind, outcome, n)
