"""The RabbitMQ trigger's consumer: at-least-once, nothing dropped silently.

* A message is acked only after its execution succeeded.
* A failed execution is retried after ``retryDelay`` through ``<queue>.retry`` (a queue whose
  messages expire back into the main queue), up to ``maxRetries`` times; then the message goes
  to the dead-letter queue with the error attached in the ``x-weir-error`` header. The copy is
  published (and confirmed by the broker) before the original is acked.
* A message that cannot be decoded (a body that is not JSON, nests deeper than the payload
  bound or holds NaN; an ``x-weir-attempts`` header that is not a count) is a poison message:
  it goes straight to the dead-letter queue with the reason in ``x-weir-error``, never back
  to the queue, so it cannot block the messages behind it.
* Stopping cancels the consumer first (no new deliveries), lets in-flight executions finish,
  and closes the channel: anything still unacked goes back to the queue.
* A lost broker connection is re-established by aio-pika's robust connection with backoff.

Under ``weir serve`` the consumer first connects in the background, retrying with backoff until
the broker answers (not live meanwhile), and a reload that changes the trigger restarts it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from weir.engine.executor import ExecutionResult, TriggerEvent
from weir.engine.service import FlowService
from weir.flow.load import CompiledFlow
from weir.flow.triggers import RabbitmqTrigger
from weir.lang.expressions import json_default
from weir.triggers.kind import TriggerKind, TriggerSettings
from weir.triggers.rejection import PayloadError, TooDeep, loads_json

if TYPE_CHECKING:
    from aiohttp import web  # the runner extra; only its types are named here

log = logging.getLogger("weir.trigger.rabbitmq")
ATTEMPTS_HEADER = "x-weir-attempts"
ERROR_HEADER = "x-weir-error"

Run = Callable[[TriggerEvent], Awaitable[ExecutionResult]]
Count = Callable[[str], None]
"""Called with received, acked, requeued (sent for a retry) or dead_lettered."""


@dataclass(frozen=True)
class Queues:
    main: str
    retry: str
    dead: str

    @classmethod
    def of(cls, trigger: RabbitmqTrigger) -> Queues:
        return cls(
            trigger.queue,
            f"{trigger.queue}.retry",
            trigger.deadLetterQueue or f"{trigger.queue}.dead",
        )


def decode_body(body: bytes, content_type: str | None) -> Any:
    """JSON bodies become data, text stays text (XML included), other bytes stay bytes.

    Raises PayloadError for a JSON body that is malformed, nests too deep or holds NaN; an
    untyped body that looks like JSON but is malformed stays text, one that nests too deep
    is refused.
    """
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind == "application/json" or kind.endswith("+json"):
        return loads_json(body)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return body
    if not kind:
        try:
            return loads_json(text)
        except TooDeep:
            raise
        except PayloadError:
            return text
    return text


def attempts_of(headers: dict[str, Any]) -> int:
    """Attempts made so far, from ``x-weir-attempts``; PayloadError unless a count."""
    value = headers.get(ATTEMPTS_HEADER, 0)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PayloadError(
            f"the {ATTEMPTS_HEADER} header is not a count of attempts: {str(value)[:40]!r}"
        )
    return value


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
        task = asyncio.get_running_loop().create_task(self._handle(message))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        task.add_done_callback(lambda _: self._limit.release())

    async def _handle(self, message: Any) -> None:
        try:
            await self._execute(message)
        except Exception as exc:
            # The broker went away (the message comes back when it returns), or a bug: say so
            # here, where the task ends, rather than as an unretrieved task exception.
            log.error("message %s was not settled: %s", message.message_id, exc, exc_info=exc)

    async def _execute(self, message: Any) -> None:
        headers = dict(message.headers or {})
        try:
            attempts = attempts_of(headers)
        except PayloadError as exc:
            await self._dead_letter(message, {"type": "payload", "message": str(exc)})
            return
        try:
            payload = decode_body(message.body, message.content_type)
        except PayloadError as exc:
            await self._dead_letter(
                message, {"type": "payload", "message": f"invalid JSON body: {exc}"}
            )
            return
        event = TriggerEvent(
            kind="rabbitmq",
            payload=payload,
            meta={
                "queue": self.queues.main,
                "messageId": message.message_id,
                "routingKey": message.routing_key,
                "headers": {k: v for k, v in headers.items() if not k.startswith("x-weir-")},
                "redelivered": bool(message.redelivered),
                "attempt": attempts + 1,
            },
        )
        try:
            result = await self.run(event)
        except Exception as exc:  # a bug: the message must not stick at the head of the queue
            log.exception("message %s could not be handled", message.message_id)
            error = {"type": "internal", "message": f"{type(exc).__name__}: {exc}"}
            await self._dead_letter(message, error)
            return
        if result.ok:
            await message.ack()
            self.count("acked")
        elif attempts < self.trigger.maxRetries:
            await self._retry(message, attempts + 1)
        else:
            await self._dead_letter(message, result.error or {"message": result.status})

    async def _retry(self, message: Any, attempts: int) -> None:
        import aio_pika

        copy = aio_pika.Message(
            message.body,
            headers={**(message.headers or {}), ATTEMPTS_HEADER: attempts},
            content_type=message.content_type,
            message_id=message.message_id,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            expiration=self.trigger.retryDelay,
        )
        await self._channel.default_exchange.publish(copy, routing_key=self.queues.retry)
        await message.ack()
        self.count("requeued")

    async def _dead_letter(self, message: Any, error: dict[str, Any]) -> None:
        import aio_pika

        copy = aio_pika.Message(
            message.body,
            headers={
                **(message.headers or {}),
                ERROR_HEADER: json.dumps(error, default=json_default),
            },
            content_type=message.content_type,
            message_id=message.message_id,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        await self._channel.default_exchange.publish(copy, routing_key=self.queues.dead)
        await message.ack()
        self.count("dead_lettered")
        log.warning(
            "message %s dead-lettered to %s: %s",
            message.message_id,
            self.queues.dead,
            error.get("message"),
        )


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


KIND = TriggerKind(
    name="rabbitmq",
    spec=RabbitmqTrigger,
    runtime=RabbitmqRuntime,
    summary="consumes a queue; a message is acked only after its execution succeeded",
)
