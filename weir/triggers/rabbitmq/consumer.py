"""The consumer of one queue: each delivery runs as its own task, up to ``concurrency`` (by
default ``prefetch``) at once, and is settled by its outcome (see the package's docstring)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from weir.engine.events import ExecutionResult, TriggerEvent
from weir.flow.triggers import RabbitmqTrigger
from weir.lang.expressions import json_default
from weir.store.base import RecordingUnavailable
from weir.store.records import Status
from weir.triggers.rabbitmq.acks import AckBatcher
from weir.triggers.rabbitmq.messages import (
    ATTEMPTS_HEADER,
    ERROR_HEADER,
    Queues,
    attempts_of,
    trigger_event,
)
from weir.triggers.rejection import PayloadError

log = logging.getLogger("weir.trigger.rabbitmq")

Run = Callable[[TriggerEvent], Awaitable[ExecutionResult]]
Count = Callable[[str], None]
"""Called with received, acked, requeued (sent for a retry), returned (given back to the
queue unsettled) or dead_lettered."""


class RabbitmqConsumer:
    def __init__(
        self, trigger: RabbitmqTrigger, url: str, run: Run, count: Count | None = None
    ) -> None:
        self.trigger = trigger
        self.url = url
        self.run = run
        self.count = count or (lambda outcome: None)
        self.queues = Queues.of(trigger)
        self.live = False
        self._connection: Any = None
        self._channel: Any = None
        self._tag: str | None = None
        self._queue: Any = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._limit = asyncio.Semaphore(trigger.concurrency or trigger.prefetch)
        self._acks: dict[int, AckBatcher] = {}  # by the id of the delivering aiormq channel

    async def start(self) -> None:
        import aio_pika

        self._connection = await aio_pika.connect_robust(self.url, timeout=10)
        self._channel = await self._connection.channel(publisher_confirms=True)
        await self._channel.set_qos(prefetch_count=self.trigger.prefetch)
        if self.trigger.declare:
            self._queue = await self._channel.declare_queue(self.queues.main, durable=True)
        else:
            self._queue = await self._channel.declare_queue(self.queues.main, passive=True)
        await self._channel.declare_queue(self.queues.dead, durable=True)
        await self._channel.declare_queue(
            self.queues.retry,
            durable=True,
            arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": self.queues.main},
        )
        self._tag = await self._queue.consume(self._on_message)
        self.live = True
        log.info("consuming %s (prefetch %d)", self.queues.main, self.trigger.prefetch)

    async def stop(self, grace: float = 30.0) -> None:
        """Stop taking messages, let in-flight executions finish, give the rest back."""
        self.live = False
        if self._queue is not None and self._tag is not None:
            try:
                await self._queue.cancel(self._tag)
            except Exception as exc:  # the channel may already be gone
                log.debug("cancelling the consumer: %s", exc)
        if self._inflight:
            _, pending = await asyncio.wait(self._inflight, timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                log.warning(
                    "%d executions did not finish within %.0fs; their messages go back",
                    len(pending),
                    grace,
                )
        if self._connection is not None:
            await self._connection.close()

    async def _on_message(self, message: Any) -> None:
        self.count("received")
        await self._limit.acquire()
        if not self.live:  # stopping: leave it unacked, it goes back to the queue
            self._limit.release()
            return
        # A task of our own: aiormq cancels its callbacks' tasks when the connection drops,
        # and an execution under way should finish rather than stop half-way.
        task = asyncio.get_running_loop().create_task(self._handle(message))
        self._inflight.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._limit.release()

    async def _handle(self, message: Any) -> None:
        try:
            await self._execute(message)
        except Exception as exc:
            # The broker went away (the message comes back when it returns), or a bug: say so
            # here, where the task ends, rather than as an unretrieved task exception.
            log.error("message %s was not settled: %s", message.message_id, exc, exc_info=exc)

    async def _execute(self, message: Any) -> None:
        try:
            attempts = attempts_of(message.headers or {})
            event = trigger_event(message, self.queues.main, attempts)
        except PayloadError as exc:
            await self._dead_letter(message, {"type": "payload", "message": str(exc)})
            return
        try:
            result = await self.run(event)
        except RecordingUnavailable as exc:
            # Its records are not committed: acking would break the promise that every
            # acknowledged message is recorded. It comes back, and runs again.
            log.warning("message %s goes back to the queue: %s", message.message_id, exc)
            await self._give_back(message)
            return
        except Exception as exc:  # a bug: the message must not stick at the head of the queue
            log.exception("message %s could not be handled", message.message_id)
            error = {"type": "internal", "message": f"{type(exc).__name__}: {exc}"}
            await self._dead_letter(message, error)
            return
        if result.ok or result.status == Status.WAITING:  # a parked one is recorded: done
            await self._ack(message)
            self.count("acked")
        elif result.status == Status.CANCELLED:
            # Someone stopped it on purpose: running it again would undo that. It is kept, not
            # dropped, where a person can look at it and move it back.
            await self._dead_letter(message, result.error or {"type": "cancelled"})
        elif attempts < self.trigger.maxRetries:
            await self._retry(message, attempts + 1)
        else:
            await self._dead_letter(message, result.error or {"message": result.status})

    def _batcher(self, message: Any) -> AckBatcher:
        channel = message.channel  # ChannelInvalidStateError once the channel is closed
        acks = self._acks.get(id(channel))
        if acks is None:
            # A new channel after a reconnection: the old one's batcher has nothing to ack.
            self._acks = {k: v for k, v in self._acks.items() if not v.channel.is_closed}
            acks = self._acks[id(channel)] = AckBatcher(channel)
        return acks

    async def _ack(self, message: Any) -> None:
        await self._batcher(message).ack(message.delivery_tag)

    async def _give_back(self, message: Any) -> None:
        acks = self._batcher(message)
        await message.nack(requeue=True)
        acks.settled_alone(message.delivery_tag)
        self.count("returned")

    async def _retry(self, message: Any, attempts: int) -> None:
        copy = self._copy(message, {ATTEMPTS_HEADER: attempts}, expiration=self.trigger.retryDelay)
        await self._channel.default_exchange.publish(copy, routing_key=self.queues.retry)
        await self._ack(message)
        self.count("requeued")

    async def _dead_letter(self, message: Any, error: dict[str, Any]) -> None:
        copy = self._copy(message, {ERROR_HEADER: json.dumps(error, default=json_default)})
        await self._channel.default_exchange.publish(copy, routing_key=self.queues.dead)
        await self._ack(message)
        self.count("dead_lettered")
        log.warning(
            "message %s dead-lettered to %s: %s",
            message.message_id,
            self.queues.dead,
            error.get("message"),
        )

    @staticmethod
    def _copy(message: Any, headers: dict[str, Any], expiration: float | None = None) -> Any:
        """A persistent copy of ``message`` with ``headers`` added, to publish elsewhere."""
        import aio_pika

        return aio_pika.Message(
            message.body,
            headers={**(message.headers or {}), **headers},
            content_type=message.content_type,
            message_id=message.message_id,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            expiration=expiration,
        )
