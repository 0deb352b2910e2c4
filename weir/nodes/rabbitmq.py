"""`rabbitmq`: publish one message, persistent and confirmed by the broker by default."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from pydantic import Field

from weir.lang.errors import AuthFailed, ConnectionFailed, NodeError
from weir.lang.expressions import Text, Value, json_default
from weir.lang.types import SecretOrText, Strict
from weir.nodes.connections import service_url
from weir.nodes.context import NodeContext
from weir.nodes.kind import NodeKind


class RabbitmqConfig(Strict):
    url: SecretOrText = Field(
        description="AMQP URL (amqp://user:pass@host:5672/vhost), usually a secret."
    )
    exchange: str = Field("", description='Exchange name; "" is the default exchange.')
    routingKey: Text = Field(description="Routing key; with the default exchange, the queue name.")
    message: Value = Field(
        description="The body: text and bytes as they are, anything else as JSON."
    )
    contentType: str | None = Field(
        None, description="Content type; derived from the body if unset."
    )
    headers: Value | None = Field(None, description="Message headers.")
    messageId: Text | None = Field(
        None, description="Message id, e.g. for consumers that deduplicate."
    )
    persistent: bool = Field(True, description="Delivery mode 2: survives a broker restart.")
    mandatory: bool = Field(False, description="Fail when no queue is bound for the routing key.")
    declareQueue: str | None = Field(
        None, description="Declare this durable queue before publishing (when nothing else does)."
    )


class _Publisher:
    """One robust connection and one confirming channel per URL, opened on first use and shared
    by every execution: a publish is one frame and one confirmation, nothing declared per
    message. Executions publish concurrently, so the broker confirms them in batches (one
    ``multiple`` ack for many messages)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = asyncio.Lock()
        self._connection: Any = None
        self._channel: Any = None
        self._known: set[tuple[str, str]] = set()  # ("queue" | "exchange", name) seen to exist

    async def channel(self) -> Any:
        """The aiormq channel to publish on (the current one, after a reconnection)."""
        channel = self._channel
        if channel is None or channel.is_closed:
            async with self._lock:
                if self._channel is None or self._channel.is_closed:
                    await self._open()
                channel = self._channel
        return await channel.get_underlay_channel()

    async def _open(self) -> None:
        import aio_pika

        if self._connection is None or self._connection.is_closed:
            self._connection = await aio_pika.connect_robust(self.url, timeout=10)
        # A channel the broker closed (a missing exchange) is replaced; what it knew may be stale.
        self._known.clear()
        self._channel = await self._connection.channel(
            publisher_confirms=True, on_return_raises=True
        )

    async def declare(self, queue: str) -> None:
        """Declare a durable queue, once per channel."""
        if ("queue", queue) not in self._known:
            channel = await self.channel()
            await channel.queue_declare(queue, durable=True)
            self._known.add(("queue", queue))

    async def check_exchange(self, exchange: str) -> None:
        """Fail early, with the exchange's name, when it does not exist; asked once."""
        if exchange and ("exchange", exchange) not in self._known:
            channel = await self.channel()
            await channel.exchange_declare(exchange, passive=True)
            self._known.add(("exchange", exchange))

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()


def _body(message: Any, content_type: str | None) -> tuple[bytes, str]:
    if isinstance(message, bytes):
        return message, content_type or "application/octet-stream"
    if isinstance(message, str):
        return message.encode("utf-8"), content_type or "text/plain; charset=utf-8"
    return json.dumps(message, default=json_default).encode(
        "utf-8"
    ), content_type or "application/json"


async def run(config: RabbitmqConfig, ctx: NodeContext) -> dict[str, Any]:
    from aiormq import spec
    from aiormq.exceptions import (
        AMQPConnectionError,
        ChannelClosed,
        DeliveryError,
        ProbableAuthenticationError,
    )

    url = ctx.reveal(config.url)
    publisher: _Publisher = ctx.resources.get(
        ("rabbitmq", url), lambda: _Publisher(url), _Publisher.close
    )
    routing_key = ctx.text(config.routingKey)
    body, content_type = _body(ctx.eval(config.message), config.contentType)
    message_id = ctx.text(config.messageId) if config.messageId is not None else None
    properties = spec.Basic.Properties(
        content_type=content_type,
        headers=ctx.eval(config.headers) or {},
        message_id=message_id,
        delivery_mode=2 if config.persistent else 1,
    )
    target = f"exchange {config.exchange or '(default)'!r}, routing key {routing_key!r}"
    try:
        if config.declareQueue:
            await publisher.declare(config.declareQueue)
        await publisher.check_exchange(config.exchange)
        channel = await publisher.channel()
        await channel.basic_publish(
            body,
            exchange=config.exchange,
            routing_key=routing_key,
            properties=properties,
            mandatory=config.mandatory,
            wait=False,  # the broker's confirmation is what counts, not the socket write
        )
    except ProbableAuthenticationError:
        raise AuthFailed("RabbitMQ refused the credentials") from None
    except (AMQPConnectionError, ConnectionError, OSError) as exc:
        raise ConnectionFailed(f"cannot reach RabbitMQ: {type(exc).__name__}") from None
    except DeliveryError as exc:
        returned = type(exc.frame).__name__ != "Nack"  # a Basic.Return: nothing routed it
        reason = "no queue is bound" if returned else "the broker did not confirm the message"
        raise NodeError(
            f"publish to {target} failed: {reason}", type="amqp", retryable=not returned
        ) from None
    except ChannelClosed as exc:
        raise NodeError(f"publish to {target} failed: {exc}", type="amqp") from None
    return {
        "exchange": config.exchange,
        "routingKey": routing_key,
        "messageId": message_id,
        "size": len(body),
    }


def connection(config: RabbitmqConfig, ctx: NodeContext) -> str | None:
    """The broker's URL without its password: its circuit breaker's key."""
    return service_url(ctx.reveal(config.url))


KIND = NodeKind(
    "rabbitmq",
    RabbitmqConfig,
    run,
    "Publish a message to RabbitMQ with publisher confirms.",
    connection,
)
