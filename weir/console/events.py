"""Live events: ``GET /api/v1/events``, a Server-Sent Events stream of the store's events
(``weir_events``), each stamped with its sequence number as the event id.

A subscriber takes the hub's current waiter first and then reads the store after the last event
it sent: an event committed while it reads wakes the waiter it already holds, so nothing falls
between a backfill and the live tail (Kestra #10521). The hub is woken at once when this process
commits (an ingest, a run of its own), and polls the store's last sequence number every
``poll`` seconds for what other processes commit (a `weir run` into the same SQLite file, a
second console replica on PostgreSQL): one cheap query per poll, however many subscribers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from aiohttp import web

from weir.console.context import console_of, readable_namespaces
from weir.console.models import EventData, EventsQuery
from weir.console.parsing import parse_query
from weir.console.problems import bad_request
from weir.store.records import iso_time

log = logging.getLogger("weir.console")

POLL = 0.2
HEARTBEAT = 15.0
"""A comment line this often keeps proxies and load balancers from closing an idle stream."""
BATCH = 500
RETRY_MS = 2000
"""How long an EventSource waits before it reconnects (it resends Last-Event-ID then)."""


class EventHub:
    def __init__(self, store: Any, poll: float = POLL) -> None:
        self.store = store
        self.poll = poll
        self.closed = False
        self._changed = asyncio.Event()
        self._seen = 0
        self._failing = False

    def waiter(self) -> asyncio.Event:
        """Set at the next change after this call."""
        return self._changed

    def wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def close(self) -> None:
        """End every stream (graceful stop): their clients reconnect to another replica."""
        self.closed = True
        self.wake()

    async def run(self) -> None:
        """Poll for events other processes commit; wake subscribers when there are some."""
        while not self.closed:
            try:
                last = await self.store.last_event_seq()
            except Exception as exc:  # the store comes back: keep polling, say it once
                if not self._failing:
                    log.warning("cannot read the last event of the store: %s", exc)
                self._failing = True
                await asyncio.sleep(max(self.poll, 1.0))
                continue
            if self._failing:
                log.info("reading the store's events again")
                self._failing = False
            if last != self._seen:
                self._seen = last
                self.wake()
            await asyncio.sleep(self.poll)


def _event_bytes(event: Any) -> bytes:
    data = EventData(
        seq=event.seq,
        type=event.type,
        execution_id=event.execution_id,
        flow=event.flow,
        namespace=event.namespace,
        status=event.status,
        node=event.node,
        node_seq=event.node_seq,
        at=iso_time(event.at),
    )
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event.seq, event.type.encode(), data.json_bytes())


def _resume_from(request: web.Request, query: EventsQuery) -> int | None:
    header = request.headers.get("Last-Event-ID")
    if header is None or not header.strip():
        return query.last_event_id
    try:
        value = int(header)
    except ValueError:
        raise bad_request(
            f"Last-Event-ID: expected an event id (an integer), got {header!r}"
        ) from None
    if value < 0:
        raise bad_request(f"Last-Event-ID: expected an event id (an integer ≥ 0), got {value}")
    return value


async def stream_events(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    query = parse_query(request, EventsQuery)
    allowed = await readable_namespaces(request, query.namespace)
    hub = console.hub
    waiter = hub.waiter()  # subscribed: whatever commits from here on wakes it
    after = _resume_from(request, query)
    if after is None:
        after = await console.store.last_event_seq()  # from now on
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    console.metrics.subscribers.inc()
    try:
        await response.write(b"retry: %d\n\n" % RETRY_MS)
        heartbeat_due = time.monotonic() + HEARTBEAT
        while not hub.closed:
            events = await console.store.events_after(
                after,
                execution_id=query.execution,
                flow=query.flow,
                namespace=query.namespace,
                namespaces=allowed,
                limit=BATCH,
            )
            if events:
                await response.write(b"".join(_event_bytes(event) for event in events))
                after = events[-1].seq
                heartbeat_due = time.monotonic() + HEARTBEAT
                if len(events) == BATCH:
                    continue  # more are waiting: no need to be woken for them
            if waiter.is_set():
                waiter = hub.waiter()
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, heartbeat_due - time.monotonic())):
                    await waiter.wait()
            waiter = hub.waiter() if waiter.is_set() else waiter
            if time.monotonic() >= heartbeat_due:
                await response.write(b": heartbeat\n\n")
                heartbeat_due = time.monotonic() + HEARTBEAT
    except ConnectionResetError:
        pass  # the client went away
    finally:
        console.metrics.subscribers.dec()
    return response
