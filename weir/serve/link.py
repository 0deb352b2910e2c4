"""Everything a runner does with its console while it serves: ship its records, listen for
cancel requests, keep its own store short. Started once the store is; stopped after the
executions in flight drained, when it ships what is left within the time given."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from weir.engine.events import ExecutionListener, OnRecorded
from weir.engine.metrics import OutboxMetrics
from weir.serve.cancels import CancelListener
from weir.serve.console_client import ConsoleClient
from weir.serve.retention import DEFAULT_RETENTION, prune_shipped
from weir.serve.ship import DEFAULT_LIMIT, Shipper

log = logging.getLogger("weir.ship")


@dataclass
class ConsoleSettings:
    url: str
    outbox_limit: int = DEFAULT_LIMIT
    retention: float = DEFAULT_RETENTION


class ConsoleLink:
    def __init__(
        self,
        settings: ConsoleSettings,
        store: Any,
        metrics: OutboxMetrics,
        cancel: Callable[[str], bool],
        *,
        flow: str = "",
        namespace: str = "",
    ) -> None:
        self.settings = settings
        self.store = store
        self.client = ConsoleClient(settings.url)
        self.shipper = Shipper(store, self.client, metrics, limit=settings.outbox_limit)
        self.cancels = CancelListener(
            self.client, store.identity.id, cancel, flow=flow, namespace=namespace
        )
        self._tasks: list[asyncio.Task[None]] = []
        self.listener: ExecutionListener = OnRecorded(self.shipper.wake)
        """For the engine's listeners: records are shipped as soon as they commit."""

    def start(self) -> None:
        log.info(
            "shipping executions to the console at %s (runner %s)",
            self.settings.url,
            self.shipper.runner,
        )
        retention = prune_shipped(self.store, self.shipper.target, self.settings.retention)
        self._tasks = [
            self._task(self.shipper.run()),
            self._task(self.cancels.run()),
            self._task(retention),
        ]

    def problem(self) -> str | None:
        return self.shipper.problem()

    async def stop(self, timeout: float) -> bool:
        """Stop the loops, then ship what is left within ``timeout`` seconds; whether all
        went. What did not stays in the local store for the next runner on it."""
        await self._stop_loops()
        try:
            shipped = await self.shipper.drain(timeout)
        finally:
            await self.aclose()
        if shipped:
            log.info("every recorded execution is shipped to the console at %s", self.client.url)
        else:
            log.warning(
                "%s recorded changes were not shipped to the console at %s within %.0fs: they "
                "stay in the local store, and a runner started on it ships them",
                await self._backlog(),
                self.client.url,
                timeout,
            )
        return shipped

    async def _stop_loops(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def aclose(self) -> None:
        """Stop without shipping more (``stop`` ships first)."""
        await self._stop_loops()
        await self.client.aclose()

    async def _backlog(self) -> int | str:
        try:
            backlog: int = await self.store.backlog(self.shipper.target)
        except Exception:  # the store itself is away: say so without a number
            return "some"
        return backlog

    @staticmethod
    def _task(coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coroutine)
        task.add_done_callback(_report)
        return task


def _report(task: asyncio.Task[None]) -> None:
    """The loops run until cancelled; one that ended otherwise is a bug: say so."""
    error = None if task.cancelled() else task.exception()
    if error is not None:
        log.error("shipping to the console stopped: %s", error, exc_info=error)
