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
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from weir.store.base import RecordingUnavailable

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
    def __init__(
        self,
        write: Callable[[list[T]], Awaitable[None]],
        *,
        batch_size: int,
        interval: float,
        max_queue: int,
        tick: Callable[[], Awaitable[None]] | None = None,
        tick_every: float = 5.0,
    ) -> None:
        self.write = write
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
        self._wake = asyncio.Event()
        """Set by a record, or by close: the writer has something to do."""
        self._stop = asyncio.Event()
        self._closing = False
        self._next_tick = time.monotonic() + tick_every

    def add(self, item: T) -> None:
        batch = self._open
        if batch is None or len(batch.items) >= self.batch_size:
            batch = self._open = Batch()
            self._batches.append(batch)
        batch.items.append(item)
        self.waiting += 1
        if not self._wake.is_set():
            self._wake.set()
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
        """The writer: until ``close``, commit batches in order, and tick now and then."""
        while not self._closing:
            if not self._batches:
                await self._idle()
                continue
            batch = self._batches[0]
            if batch is self._open:
                if self.interval > 0:
                    await asyncio.sleep(self.interval)  # a fixed interval: let the batch fill
                if batch is self._open:
                    self._open = None  # what comes from now on goes into the next batch
            if not await self._commit(batch):
                break  # closing while the store failed
            self._batches.popleft()
            self.waiting -= len(batch.items)
            self.batches_written += 1
            batch.committed()
            if time.monotonic() >= self._next_tick:
                await self._tick()

    async def _idle(self) -> None:
        self._wake.clear()
        if not self._batches:
            await _wait(self._wake, max(0.0, self._next_tick - time.monotonic()))
        if time.monotonic() >= self._next_tick:
            await self._tick()

    async def _commit(self, batch: Batch[T]) -> bool:
        """Write the batch, retrying until it is written (True) or the writer closes (False)."""
        delay = INITIAL_RETRY_DELAY
        while True:
            try:
                await self.write(batch.items)
                self.last_error = None
                return True
            except Exception as exc:  # keep the records and try again; never drop them
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning(
                    "writing %d execution records failed (%s); retrying in %.1fs",
                    len(batch.items),
                    exc,
                    delay,
                )
            if self._closing:
                return False
            await _wait(self._stop, delay)
            if self._closing:
                return False
            delay = min(delay * 2, MAX_RETRY_DELAY)

    async def _tick(self) -> None:
        self._next_tick = time.monotonic() + self.tick_every
        if self.tick is None:
            return
        try:
            await self.tick()
        except Exception as exc:  # the heartbeat tries again at the next tick
            log.warning("execution store heartbeat failed: %s", exc)

    def close(self) -> int:
        """Stop the writer after the batch it writes; what is still queued is lost: its
        waiters get RecordingUnavailable. Returns how many records that is."""
        self._closing = True
        self._stop.set()
        self._wake.set()
        return self.waiting

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


async def _wait(event: asyncio.Event, seconds: float) -> None:
    """Until ``event`` is set, at most ``seconds``."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
