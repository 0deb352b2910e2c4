"""The RabbitMQ trigger under `weir serve`: the consumer of the current revision's queue."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from weir.engine.service import FlowService
from weir.flow.load import CompiledFlow
from weir.triggers.kind import TriggerSettings
from weir.triggers.rabbitmq.consumer import RabbitmqConsumer

if TYPE_CHECKING:
    from aiohttp import web  # the runner extra; only its types are named here

log = logging.getLogger("weir.trigger.rabbitmq")


class RabbitmqRuntime:
    """The consumer of the current revision's queue, as `weir serve` runs it."""

    def __init__(self, service: FlowService, settings: TriggerSettings) -> None:
        self.service = service
        self.grace = settings.grace
        self.consumer: RabbitmqConsumer | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._restarting: asyncio.Task[None] | None = None

    @property
    def live(self) -> bool:
        return self.consumer is not None and self.consumer.live

    def resources(self) -> Sequence[web.AbstractResource]:
        return ()

    def problem(self) -> str | None:
        return None

    async def start(self) -> None:
        trigger = self.service.flow.flow.spec.trigger.rabbitmq
        assert trigger is not None
        url = self.service.secrets().reveal(trigger.url)
        self.consumer = RabbitmqConsumer(trigger, url, self.service.execute, self._count)
        self._connecting = asyncio.get_running_loop().create_task(self._connect(self.consumer))

    async def _connect(self, consumer: RabbitmqConsumer) -> None:
        delay = 1.0
        while True:
            try:
                await consumer.start()
                return
            except Exception as exc:
                log.warning(
                    "cannot consume %s yet (%s); retrying in %.0fs",
                    consumer.queues.main,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    def reloaded(self, old: CompiledFlow, new: CompiledFlow) -> None:
        if old.flow.spec.trigger.rabbitmq != new.flow.spec.trigger.rabbitmq:
            log.info("the rabbitmq trigger changed; restarting the consumer")
            previous = self._restarting
            self._restarting = asyncio.get_running_loop().create_task(self._restart(previous))

    async def _restart(self, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:  # one restart at a time, in the order of the reloads
            await asyncio.gather(previous, return_exceptions=True)
        await self._stop_consumer()
        await self.start()

    async def stop(self) -> None:
        """Stop taking messages; executions in flight get the grace period to finish."""
        if self._restarting is not None:  # a restart half done would start a consumer again
            await asyncio.gather(self._restarting, return_exceptions=True)
        await self._stop_consumer()

    async def _stop_consumer(self) -> None:
        if self._connecting is not None and not self._connecting.done():
            self._connecting.cancel()
            await asyncio.gather(self._connecting, return_exceptions=True)
        if self.consumer is not None:
            await self.consumer.stop(self.grace)

    def _count(self, outcome: str) -> None:
        self.service.metrics.trigger(self.service.name, "rabbitmq", outcome)
