"""The orders-amqp example under `weir serve` against the machine's RabbitMQ: conversion,
at-least-once through kill -9, exactly-once through SIGTERM, dead-lettering."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.runner.serving import ROOT, Served
from tests.servers.services import RABBITMQ

URL = RABBITMQ.url
EXAMPLE = ROOT / "examples" / "orders-amqp" / "flow.yaml"
ENV = {"WEIR_SECRET_AMQP_URL": URL}


@pytest.fixture
async def queues(tmp_path: Path) -> AsyncIterator[tuple[Path, str, str]]:
    RABBITMQ.require()
    import aio_pika

    tag = uuid.uuid4().hex[:8]
    source, target = f"orders.xml.{tag}", f"orders.json.{tag}"
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        EXAMPLE.read_text()
        .replace("queue: orders.xml", f"queue: {source}")
        .replace("orders.json", target)
        .replace("retryDelay: 5s", "retryDelay: 100ms")
        .replace("maxRetries: 3", "maxRetries: 1")
    )
    yield flow, source, target
    connection = await aio_pika.connect(URL)
    channel = await connection.channel()
    for name in (source, f"{source}.retry", f"{source}.dead", target):
        await channel.queue_delete(name)
    await connection.close()


async def publish(queue: str, ids: list[str], body: str | None = None) -> None:
    import aio_pika

    connection = await aio_pika.connect(URL)
    channel = await connection.channel(publisher_confirms=True)
    await channel.declare_queue(queue, durable=True)
    for start in range(0, len(ids), 500):
        await asyncio.gather(
            *(
                channel.default_exchange.publish(
                    aio_pika.Message(
                        (
                            body
                            or f'<order id="{i}"><customer>c{i}</customer>'
                            '<line sku="a">1</line><line sku="b">2</line></order>'
                        ).encode(),
                        content_type="application/xml",
                        message_id=i,
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    ),
                    routing_key=queue,
                )
                for i in ids[start : start + 500]
            )
        )
    await connection.close()


async def drain(queue: str) -> list[dict[str, Any]]:
    import aio_pika

    connection = await aio_pika.connect(URL)
    channel = await connection.channel()
    declared = await channel.declare_queue(queue, durable=True)
    bodies = []
    while (message := await declared.get(fail=False, no_ack=True)) is not None:
        bodies.append({"body": message.body.decode(), "headers": dict(message.headers or {})})
    await connection.close()
    return bodies


async def depth(queue: str) -> int:
    import aio_pika

    connection = await aio_pika.connect(URL)
    channel = await connection.channel()
    declared = await channel.declare_queue(queue, durable=True)
    count = declared.declaration_result.message_count or 0
    await connection.close()
    return count


async def wait_until(check: Any, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError("timed out")


async def test_an_xml_order_arrives_as_json(queues: tuple[Path, str, str]) -> None:
    flow, source, target = queues
    with Served(flow, "--no-store", env=ENV):
        await publish(source, ["A-1"])
        await wait_until(lambda: _nonempty(target))
    (message,) = await drain(target)
    assert json.loads(message["body"]) == {
        "id": "A-1",
        "customer": "cA-1",
        "lines": [{"@sku": "a", "#text": "1"}, {"@sku": "b", "#text": "2"}],
    }


async def _nonempty(queue: str) -> bool:
    return await depth(queue) > 0


async def test_kill_9_midway_then_a_restart_delivers_every_order_at_least_once(
    queues: tuple[Path, str, str], tmp_path: Path
) -> None:
    flow, source, target = queues
    ids = [f"o-{n}" for n in range(10_000)]
    await publish(source, ids)
    store = ["--store", f"sqlite:///{tmp_path}/s.db"]

    first = Served(flow, *store, env=ENV)
    first.wait_ready()
    await wait_until(lambda: _at_least(target, 2_000))
    first.kill()  # kill -9: what was unacked comes back
    assert await depth(target) < len(ids), "finished before the kill; use more messages"

    second = Served(flow, *store, env=ENV)
    second.wait_ready()
    await wait_until(lambda: _source_empty_and_idle(source, second))
    assert second.terminate() == 0, second.output()

    delivered = Counter(json.loads(m["body"])["id"] for m in await drain(target))
    assert set(delivered) == set(ids)
    assert await depth(f"{source}.dead") == 0


async def test_sigterm_midway_then_a_restart_delivers_every_order_exactly_once(
    queues: tuple[Path, str, str], tmp_path: Path
) -> None:
    flow, source, target = queues
    ids = [f"o-{n}" for n in range(10_000)]
    await publish(source, ids)
    store = ["--store", f"sqlite:///{tmp_path}/s.db"]

    first = Served(flow, *store, env=ENV)
    first.wait_ready()
    await wait_until(lambda: _at_least(target, 2_000))
    assert first.terminate() == 0, first.output()  # drains in-flight work, returns the rest
    stopped_at = await depth(target)
    assert stopped_at < len(ids), "finished before the SIGTERM; use more messages"

    second = Served(flow, *store, env=ENV)
    second.wait_ready()
    await wait_until(lambda: _source_empty_and_idle(source, second))
    assert second.terminate() == 0, second.output()

    delivered = Counter(json.loads(m["body"])["id"] for m in await drain(target))
    assert set(delivered) == set(ids)
    assert [i for i, n in delivered.items() if n > 1] == []


async def _at_least(queue: str, count: int) -> bool:
    return await depth(queue) >= count


async def _source_empty_and_idle(source: str, served: Served) -> bool:
    import httpx

    ready = httpx.get(served.url + "/readyz").json()
    return await depth(source) == 0 and ready["inFlight"] == 0


async def test_a_malformed_order_is_retried_then_dead_lettered_with_the_error(
    queues: tuple[Path, str, str],
) -> None:
    flow, source, target = queues
    with Served(flow, "--no-store", env=ENV):
        await publish(source, ["bad-1"], body="<order><unclosed></order>")
        await wait_until(lambda: _nonempty(f"{source}.dead"))
    (dead,) = await drain(f"{source}.dead")
    error = json.loads(dead["headers"]["x-weir-error"])
    assert error["node"] == "parse" and "malformed XML" in error["message"]
    assert dead["headers"]["x-weir-attempts"] == 1
    assert await depth(target) == 0
