"""Group commit: records queue in batches, one background writer commits each batch in one
transaction, and whoever waits for a record is released when the batch holding it committed.

Policy (measured in docs/recording.md): the writer starts a batch as soon as it is free, taking
whatever queued meanwhile, up to ``batch_size`` records. An idle store therefore writes a record
at once, and a busy one writes bigger batches: latency grows by at most one batch write, and
throughput does not drop. ``interval`` > 0 instead holds each batch open that long (a fixed
interval), which the measurements found slower at every load.

A failed write is retried with backoff and never dropped while the process lives; batches
behind it wait in memory (a warning is logged when more than ``max_queue`` records wait).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from weir.store.base import RecordingUnavailable
from weir.store.batches import Done

log = logging.getLogger("weir.store")
T = TypeVar("T")
INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 30.0


class Batch(Generic[T]):
    """Records committed together, and who waits for their transaction.

    Each waiter has a future of its own (a cancelled waiter cancels only its own); those that
    wait at most the same time share one timer, armed by the first of them: one timer per
    batch, not one per execution answered, so a waiter that joins later may be released a
    few milliseconds before its full time."""

    __slots__ = ("items", "timers", "waiters")

    def __init__(self) -> None:
        self.items: list[T] = []
        self.waiters: dict[float | None, list[asyncio.Future[bool]]] = {}
        self.timers: list[asyncio.TimerHandle] = []

    def waiter(self, timeout: float | None) -> asyncio.Future[bool]:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        waiting = self.waiters.get(timeout)
        if waiting is None:
            waiting = self.waiters[timeout] = []
            if timeout is not None:
                self.timers.append(loop.call_later(timeout, _release, waiting, False))
        waiting.append(waiter)
        return waiter

    def committed(self) -> None:
        self._settle(lambda waiter: waiter.set_result(True))

    def given_up(self, error: Exception) -> None:
        self._settle(lambda waiter: waiter.set_exception(error))

    def _settle(self, settle: Callable[[asyncio.Future[bool]], None]) -> None:
        for timer in self.timers:
            timer.cancel()
        for waiting in self.waiters.values():
            for waiter in waiting:
                if not waiter.done():  # else cancelled, or timed out before the end
                    settle(waiter)


class GroupCommit(Generic[T]):
    """Driven by callbacks, not by a task of its own: a record schedules the next batch if the
    writer is free, and a batch's answer releases its waiters and starts the next batch right
    there. A task between them cost each batch two more turns of the event loop, and on a busy
    runner every turn delays the answers of all the requests it serves (docs/recording.md)."""

    def __init__(
        self,
        start: Callable[[list[T], Done], None],
        *,
        batch_size: int,
        interval: float,
        max_queue: int,
        tick: Callable[[], Awaitable[None]] | None = None,
        tick_every: float = 5.0,
    ) -> None:
        self.start = start
        """Begins writing a batch and calls back how it ended (weir.store.batches)."""
        self.batch_size = batch_size
        self.interval = interval
        self.max_queue = max_queue
        self.tick = tick
        self.tick_every = tick_every
        self.waiting = 0
        """Records queued and not yet committed."""
        self.batches_written = 0
        self.last_error: str | None = None
        """Why the last write failed, while it still fails."""
        self._batches: deque[Batch[T]] = deque()
        self._open: Batch[T] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        """Set while running."""
        self._writing: Batch[T] | None = None
        self._next_soon: asyncio.Handle | None = None
        """The next batch, scheduled (by a record, a retry or an interval)."""
        self._held: Batch[T] | None = None
        """The open batch held for ``interval`` before it is written."""
        self._delay = INITIAL_RETRY_DELAY
        self._ticking: asyncio.Task[None] | None = None
        self._tick_timer: asyncio.TimerHandle | None = None
        self._closing = False
        self._stopped: asyncio.Future[None] | None = None

    def add(self, item: T) -> None:
        batch = self._open
        if batch is None or len(batch.items) >= self.batch_size:
            batch = self._open = Batch()
            self._batches.append(batch)
        batch.items.append(item)
        self.waiting += 1
        if self._next_soon is None and self._writing is None and self._loop is not None:
            # Soon, not now: the executions ending in this turn of the event loop go together.
            self._next_soon = self._loop.call_soon(self._next)
        if self.waiting == self.max_queue:
            log.warning(
                "%d execution records are waiting to be written: is the store reachable?",
                self.max_queue,
            )

    def waiter(self, timeout: float | None) -> asyncio.Future[bool] | None:
        """None if every record added so far is committed; else a future that becomes True
        once they are, False after ``timeout`` seconds, or RecordingUnavailable if they are
        given up on (``fail_waiting``)."""
        return self._batches[-1].waiter(timeout) if self._batches else None

    async def run(self) -> None:
        """Write batches in order, and tick now and then, until ``close``; returns once the
        batch being written when it closed has its answer."""
        if self._closing:
            return
        self._loop = loop = asyncio.get_running_loop()
        self._stopped = loop.create_future()
        if self.tick is not None:
            self._tick_timer = loop.call_later(self.tick_every, self._start_tick)
        if self._batches:
            self._next_soon = loop.call_soon(self._next)
        await self._stopped

    def _next(self) -> None:
        """Start the next batch, unless the writer is busy."""
        self._next_soon = None
        if self._closing or self._writing is not None or not self._batches:
            return
        batch = self._batches[0]
        if batch is self._open:
            if self.interval > 0 and self._held is not batch:  # a fixed interval: let it fill
                self._held = batch
                assert self._loop is not None
                self._next_soon = self._loop.call_later(self.interval, self._next)
                return
            self._open = None  # what comes from now on goes into the next batch
        self._held = None  # else it keeps a written batch's records alive
        self._writing = batch
        try:
            self.start(batch.items, self._written)
        except Exception as exc:  # building the batch failed: like a failed write
            self._written(exc)

    def _written(self, error: BaseException | None) -> None:
        batch, self._writing = self._writing, None
        assert batch is not None
        if error is None:
            self.last_error = None
            self._delay = INITIAL_RETRY_DELAY
            self._batches.popleft()
            self.waiting -= len(batch.items)
            self.batches_written += 1
            batch.committed()
        else:  # keep the records and try again; never drop them
            self.last_error = f"{type(error).__name__}: {error}"
            log.warning(
                "writing %d execution records failed (%s); retrying in %.1fs",
                len(batch.items),
                error,
                self._delay,
            )
        if self._closing:
            self._stop()
        elif error is None:
            self._next()
        else:
            assert self._loop is not None
            self._next_soon = self._loop.call_later(self._delay, self._next)
            self._delay = min(self._delay * 2, MAX_RETRY_DELAY)

    def _start_tick(self) -> None:
        """The heartbeat, beside the batches: a tick that held them up (8 to 9 ms under load,
        its statements taking turns of the event loop) held up every answer waiting for a
        commit, and made the slowest requests of a busy runner twice as slow."""
        assert self._loop is not None and self.tick is not None
        self._tick_timer = None
        self._ticking = self._loop.create_task(self._run_tick(self.tick))

    async def _run_tick(self, tick: Callable[[], Awaitable[None]]) -> None:
        try:
            await tick()
        except Exception as exc:  # the heartbeat tries again at the next tick
            log.warning("execution store heartbeat failed: %s", exc)
        finally:
            self._ticking = None
            if self._closing:
                self._stop()
            else:
                assert self._loop is not None
                self._tick_timer = self._loop.call_later(self.tick_every, self._start_tick)

    def tick_every_from_now(self, seconds: float) -> None:
        """Tick every ``seconds``, the next one that long from now."""
        self.tick_every = seconds
        if self._tick_timer is not None and self._loop is not None:
            self._tick_timer.cancel()
            self._tick_timer = self._loop.call_later(seconds, self._start_tick)

    def close(self) -> int:
        """Stop the writer after the batch it writes; what is still queued is lost: its
        waiters get RecordingUnavailable. Returns how many records that is."""
        self._closing = True
        for timer in (self._next_soon, self._tick_timer):
            if timer is not None:
                timer.cancel()
        self._next_soon = self._tick_timer = None
        self._stop()
        return self.waiting

    def _stop(self) -> None:
        """``run`` returns, once neither a batch nor a tick is under way."""
        stopped = self._stopped
        busy = self._writing is not None or self._ticking is not None
        if stopped is None or stopped.done() or busy:
            return
        stopped.set_result(None)

    def fail_waiting(self) -> int:
        """After the writer stopped: release the waiters of batches never written."""
        lost = self.waiting
        for batch in self._batches:
            batch.given_up(
                RecordingUnavailable(
                    f"the execution store closed before {len(batch.items)} records could "
                    f"be written ({self.last_error or 'it was stopping'})"
                )
            )
        self._batches.clear()
        self._open = None
        self.waiting = 0
        return lost


def _release(waiting: list[asyncio.Future[bool]], committed: bool) -> None:
    for waiter in waiting:
        if not waiter.done():  # else cancelled, or timed out before the commit
            waiter.set_result(committed)
