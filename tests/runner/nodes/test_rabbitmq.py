"""The rabbitmq publish node against the machine's RabbitMQ: body encodings, headers,
persistence, confirms, unroutable mandatory messages, refused connections, bad credentials."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.servers.services import RABBITMQ
from weir.lang.errors import AuthFailed, ConnectionFailed, NodeError
from weir.nodes.context import NodeContext
from weir.nodes.rabbitmq import RabbitmqConfig, run

URL = RABBITMQ.url


@pytest.fixture
async def queue() -> AsyncIterator[Any]:
    RABBITMQ.require()
    import aio_pika

    connection = await aio_pika.connect(URL)
    channel = await connection.channel()
    declared = await channel.declare_queue(f"weir-test-{uuid.uuid4().hex[:8]}", durable=True)
    yield declared
    await declared.delete(if_unused=False, if_empty=False)
    await connection.close()


def config(**fields: Any) -> RabbitmqConfig:
    return RabbitmqConfig.model_validate({"url": URL, **fields})


async def test_a_json_message_is_published_persistent_with_headers(
    queue: Any, make_ctx: Callable[..., NodeContext]
) -> None:
    ctx = make_ctx(scope={"input": {"id": 7}})
    output = await run(
        config(
            routingKey=queue.name,
            message={"id": "${input.id}"},
            headers={"x-source": "weir"},
            messageId="m-${input.id}",
        ),
        ctx,
    )
    assert output["routingKey"] == queue.name and output["messageId"] == "m-7"
    message = await queue.get(timeout=5)
    await message.ack()
    assert json.loads(message.body) == {"id": 7}
    assert message.content_type == "application/json"
    assert message.headers == {"x-source": "weir"}
    assert message.delivery_mode == 2
    assert message.message_id == "m-7"


async def test_text_is_sent_as_it_is(queue: Any, make_ctx: Callable[..., NodeContext]) -> None:
    await run(
        config(routingKey=queue.name, message="<order id='1'/>", contentType="application/xml"),
        make_ctx(),
    )
    message = await queue.get(timeout=5)
    await message.ack()
    assert message.body == b"<order id='1'/>" and message.content_type == "application/xml"


async def test_the_queue_can_be_declared_before_publishing(
    make_ctx: Callable[..., NodeContext],
) -> None:
    RABBITMQ.require()
    import aio_pika

    name = f"weir-declared-{uuid.uuid4().hex[:8]}"
    await run(config(routingKey=name, message="x", declareQueue=name), make_ctx())
    connection = await aio_pika.connect(URL)
    channel = await connection.channel()
    declared = await channel.declare_queue(name, passive=True)
    assert declared.declaration_result.message_count == 1
    await declared.delete(if_unused=False, if_empty=False)
    await connection.close()


async def test_an_unroutable_mandatory_message_is_a_non_retryable_error(
    make_ctx: Callable[..., NodeContext],
) -> None:
    RABBITMQ.require()
    with pytest.raises(NodeError) as caught:
        await run(
            config(routingKey=f"nowhere-{uuid.uuid4().hex}", message="x", mandatory=True),
            make_ctx(),
        )
    assert caught.value.type == "amqp" and caught.value.retryable is False
    assert "no queue is bound" in caught.value.message


async def test_a_missing_exchange_is_reported(make_ctx: Callable[..., NodeContext]) -> None:
    RABBITMQ.require()
    with pytest.raises(NodeError) as caught:
        await run(config(exchange="weir-no-such-exchange", routingKey="k", message="x"), make_ctx())
    assert caught.value.type == "amqp" and "weir-no-such-exchange" in caught.value.message


async def test_a_refused_connection_is_retryable(make_ctx: Callable[..., NodeContext]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConnectionFailed) as caught:
        await run(
            RabbitmqConfig.model_validate(
                {"url": f"amqp://guest:guest@127.0.0.1:{port}/", "routingKey": "q", "message": "x"}
            ),
            make_ctx(),
        )
    assert caught.value.retryable is True


async def test_wrong_credentials_are_not_retryable_and_not_printed(
    make_ctx: Callable[..., NodeContext],
) -> None:
    RABBITMQ.require()
    ctx = make_ctx(secrets={("broker", "url"): RABBITMQ.url_as(RABBITMQ.user, "wrong-canary-pw")})
    with pytest.raises(AuthFailed) as caught:
        await run(
            RabbitmqConfig.model_validate(
                {"url": {"secret": "broker", "key": "url"}, "routingKey": "q", "message": "x"}
            ),
            ctx,
        )
    assert "wrong-canary-pw" not in str(caught.value)
