"""Shipping a runner's records to the console: the local store is the outbox.

The store keeps, per target (the console's URL), a cursor over its event sequence. The shipper
reads the executions changed after it (each whole: record and node runs), POSTs them to
``{console}/api/v1/ingest`` and, once the console answered 2xx, moves the cursor. The console
takes an execution idempotently by id, so a shipment sent twice (the answer was lost, the
runner restarted before moving the cursor) changes nothing. While the console is down nothing
is lost: the records wait in the local store and are tried again with backoff.

An execution the console refuses for good (400, 413, 422: it cannot read it) is not allowed to
block the ones behind it: a refused batch is split until the refused execution is alone, which
is then logged as an error, counted in ``weir_outbox_rejected_total`` and passed over; it stays
in the local store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from weir.engine.metrics import OutboxMetrics
from weir.lang.settings import count_from_environment
from weir.serve.console_client import ConsoleClient, ConsoleUnavailable
from weir.serve.streak import Backoff, FailureStreak
from weir.store.base import RecordingUnavailable
from weir.store.wire import execution_to_wire

log = logging.getLogger("weir.ship")

LIMIT_ENV = "WEIR_OUTBOX_LIMIT"
DEFAULT_LIMIT = 100_000
"""Backlog (events not shipped) above which the runner is not ready."""
BATCH = 200
"""Executions per shipment."""
POLL = 1.0
"""Seconds between looks at the outbox while nothing waits and nothing wakes the shipper (what
another process wrote to a shared store, executions a sweep marked interrupted)."""
COMMIT_WAIT = 10.0
"""Seconds a woken shipper waits for the records to commit before it looks anyway."""
BACKLOG_EVERY = 1.0
"""Seconds between counts of the backlog while records are shipped (a count reads the index)."""
REFUSED = frozenset({400, 413, 422})
"""Answers that say the console cannot take these executions: trying again will not help."""


def outbox_limit_from_environment() -> int:
    return count_from_environment(LIMIT_ENV, DEFAULT_LIMIT)


class Shipper:
    """Ships one store's outbox to one console; ``run`` until cancelled, ``drain`` to empty it
    before the process ends."""

    def __init__(
        self,
        store: Any,
        client: ConsoleClient,
        metrics: OutboxMetrics | None = None,
        *,
        limit: int = DEFAULT_LIMIT,
        batch: int = BATCH,
        poll: float = POLL,
    ) -> None:
        self.store = store
        self.client = client
        self.metrics = metrics or OutboxMetrics()
        self.limit = limit
        self.batch = batch
        self.poll = poll
        self.target = client.url
        self.runner: str = store.identity.id
        self.backlog = 0
        self.over_limit = False
        self.streak = FailureStreak(log, f"shipping executions to the console at {client.url}")
        self._marked = 0
        self._counted_at = 0.0
        self._woken = asyncio.Event()

    def wake(self) -> None:
        """Something was recorded: ship it once it is committed (an engine listener calls
        this; without it the shipper looks every ``poll`` seconds)."""
        self._woken.set()

    def problem(self) -> str | None:
        """Why the runner should not take more work (its readiness), or None."""
        return self._problem_text(self.backlog) if self.over_limit else None

    async def run(self) -> None:
        """Ship as records commit, until cancelled."""
        while True:
            delay = await self._step()
            if delay is None:
                await self._records()
            elif delay:
                await self._back_off(delay)

    async def _records(self) -> None:
        """Wait until something was recorded and committed, or ``poll`` seconds."""
        try:
            async with asyncio.timeout(self.poll):
                await self._woken.wait()
        except TimeoutError:
            return
        with contextlib.suppress(RecordingUnavailable):
            await self.store.durable(COMMIT_WAIT)

    async def _back_off(self, delay: float) -> None:
        """Wait out a failed shipment's backoff (up to the cap: 30 s). What is recorded
        meanwhile is counted, at most every BACKLOG_EVERY seconds, so readiness and the gauge
        follow an outage as it grows, not the count its first failure made."""
        deadline = time.monotonic() + delay
        while (left := deadline - time.monotonic()) > 0:
            self._woken.clear()
            try:
                async with asyncio.timeout(left):
                    await self._woken.wait()
                    await asyncio.sleep(self._counted_at + BACKLOG_EVERY - time.monotonic())
                    with contextlib.suppress(RecordingUnavailable):
                        await self.store.durable(COMMIT_WAIT)
            except TimeoutError:
                return
            await self._count_backlog(force=True)  # not under the timeout: a count is not cut

    async def drain(self, timeout: float, *, cap: float = 5.0) -> bool:
        """Ship until nothing waits, for at most ``timeout`` seconds; whether all went."""
        self.streak.backoff = Backoff(cap=cap)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    delay = await self._step()
                    if delay is None:
                        return True
                    if delay:
                        await asyncio.sleep(delay)
        except TimeoutError:
            return False

    async def _step(self) -> float | None:
        """One shipment; the seconds to wait before the next: 0 when more waits, a backoff
        delay after a failure, None when nothing waits."""
        self._woken.clear()  # before reading: what is recorded from now on wakes the next wait
        try:
            shipped = await self.ship_batch()
        except ConsoleUnavailable as exc:
            self.metrics.failures.inc()
            await self._count_backlog(force=not self.streak.failing)
            return self.streak.failed(exc, f"{self.backlog} recorded changes wait in the store")
        except Exception as exc:  # the store: locked, unreachable; it answers again later
            return self.streak.failed(f"reading the outbox: {exc}")
        self.streak.succeeded()
        return 0.0 if shipped >= self.batch else None

    async def ship_batch(self) -> int:
        """Ship the next executions from the outbox; how many (0: nothing waits).
        ConsoleUnavailable when the console did not take them (the cursor stays)."""
        items, seq = await self.store.outbox(self.target, limit=self.batch)
        if items:
            await self._send([execution_to_wire(record, nodes) for record, nodes in items])
        if seq > self._marked:
            await self.store.mark_shipped(self.target, seq)
            self._marked = seq
        if items:
            await self._count_backlog()
        else:
            self._set_backlog(0)
        return len(items)

    async def _send(self, wires: list[dict[str, Any]]) -> None:
        try:
            await self.client.ingest(self.runner, wires)
        except ConsoleUnavailable as exc:
            if exc.status not in REFUSED:
                raise
            if len(wires) > 1:  # find the one refused; the others go
                half = len(wires) // 2
                await self._send(wires[:half])
                await self._send(wires[half:])
                return
            log.error(
                "the console refused execution %s of flow %s for good (%s): it stays in the "
                "local store only",
                wires[0].get("id"),
                wires[0].get("flow"),
                exc,
            )
            self.metrics.rejected.inc()
            return
        self.metrics.shipped.inc(len(wires))

    async def _count_backlog(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._counted_at >= BACKLOG_EVERY:
            self._counted_at = now
            try:
                backlog = await self.store.backlog(self.target)
            except Exception as exc:  # the store is busy or away: the last count stands
                log.debug("could not count the outbox backlog: %s", exc)
                return
            self._set_backlog(backlog)

    def _set_backlog(self, backlog: int) -> None:
        self.backlog = backlog
        self.metrics.backlog.set(backlog)
        over = backlog > self.limit
        if over and not self.over_limit:
            log.warning("not ready: %s", self._problem_text(backlog))
        elif self.over_limit and not over:
            log.info("the backlog for the console at %s is down to %d: ready", self.target, backlog)
        self.over_limit = over

    def _problem_text(self, backlog: int) -> str:
        return (
            f"the console at {self.target} is behind: {backlog} recorded changes wait to be "
            f"shipped, more than {LIMIT_ENV}={self.limit}"
        )


async def ship_outbox(store: Any, url: str, wait: float) -> str | None:
    """Ship everything waiting in ``store`` for the console at ``url`` within ``wait`` seconds
    (``weir run`` before it exits); None when all went, else why not."""
    client = ConsoleClient(url)
    shipper = Shipper(store, client)
    try:
        if await shipper.drain(wait):
            return None
    finally:
        await client.aclose()
    return shipper.streak.last_error or "the console was still taking them"
