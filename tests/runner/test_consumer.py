"""The RabbitMQ trigger's consumer against the machine's RabbitMQ: ack after success, delayed
retries through the retry queue, dead-lettering with the error attached, bounded concurrency,
and a stop that finishes in-flight work and gives unacked messages back."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.servers.services import RABBITMQ
from weir.engine.executor import ExecutionResult, TriggerEvent
from weir.flow.triggers import RabbitmqTrigger
from weir.store.records import Status
from weir.triggers.rabbitmq import ERROR_HEADER, RabbitmqConsumer, decode_body

URL = RABBITMQ.url


def outcome(event: TriggerEvent, ok: bool) -> ExecutionResult:
    now = time.time()
    error = (
        None
        if ok
        else {"node": "push", "type": "http", "message": "503 from CRM", "retryable": True}
    )
    return ExecutionResult("x", "t", "succeeded" if ok else "failed", None, error, now, now, [])


@pytest.fixture
async def channel() -> AsyncIterator[Any]:
    RABBITMQ.require()
    import aio_pika

    connection = await aio_pika.connect(URL)
    yield await connection.channel()
    await connection.close()


@pytest.fixture
def queue_name() -> str:
    return f"weir-consumer-{uuid.uuid4().hex[:8]}"


async def publish(channel: Any, queue: str, body: Any, **headers: Any) -> None:
    import aio_pika

    await channel.default_exchange.publish(
        aio_pika.Message(
            json.dumps(body).encode(),
            content_type="application/json",
            headers=headers,
            message_id=str(body.get("id")),
        ),
        routing_key=queue,
    )


async def drain(channel: Any, queue: str, expected: int, timeout: float = 10) -> list[Any]:
    got = []
    declared = await channel.declare_queue(queue, passive=True)
    deadline = time.monotonic() + timeout
    while len(got) < expected and time.monotonic() < deadline:
        message = await declared.get(fail=False)
        if message is None:
            await asyncio.sleep(0.05)
            continue
        await message.ack()
        got.append(message)
    return got


async def cleanup(channel: Any, queue: str) -> None:
    for name in (queue, f"{queue}.retry", f"{queue}.dead"):
        await channel.queue_delete(name)


async def wait_until(check: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_successful_executions_are_acked_and_see_the_payload(
    channel: Any, queue_name: str
) -> None:
    seen: list[TriggerEvent] = []
    counts: list[str] = []

    async def run(event: TriggerEvent) -> ExecutionResult:
        seen.append(event)
        return outcome(event, True)

    consumer = RabbitmqConsumer(RabbitmqTrigger(url=URL, queue=queue_name), URL, run, counts.append)
    await consumer.start()
    try:
        assert consumer.live
        for n in range(5):
            await publish(channel, queue_name, {"id": n}, source="test")
        await wait_until(lambda: counts.count("acked") == 5)
    finally:
        await consumer.stop()
    assert sorted(e.payload["id"] for e in seen) == [0, 1, 2, 3, 4]
    assert seen[0].meta["headers"] == {"source": "test"} and seen[0].meta["attempt"] == 1
    declared = await channel.declare_queue(queue_name, passive=True)
    assert declared.declaration_result.message_count == 0
    await cleanup(channel, queue_name)


async def test_a_failure_is_retried_after_the_delay_then_dead_lettered_with_the_error(
    channel: Any, queue_name: str
) -> None:
    attempts: list[int] = []
    counts: list[str] = []

    async def run(event: TriggerEvent) -> ExecutionResult:
        attempts.append(event.meta["attempt"])
        return outcome(event, False)

    trigger = RabbitmqTrigger(url=URL, queue=queue_name, maxRetries=2, retryDelay=0.2)
    consumer = RabbitmqConsumer(trigger, URL, run, counts.append)
    await consumer.start()
    try:
        await publish(channel, queue_name, {"id": "order-1"})
        (dead,) = await drain(channel, f"{queue_name}.dead", 1)
    finally:
        await consumer.stop()
    assert attempts == [1, 2, 3]
    assert counts.count("requeued") == 2 and counts.count("dead_lettered") == 1
    assert json.loads(dead.body) == {"id": "order-1"}
    error = json.loads(dead.headers[ERROR_HEADER])
    assert error == {"node": "push", "type": "http", "message": "503 from CRM", "retryable": True}
    await cleanup(channel, queue_name)


async def test_a_cancelled_execution_is_dead_lettered_at_once_not_retried(
    channel: Any, queue_name: str
) -> None:
    attempts: list[int] = []
    counts: list[str] = []

    async def run(event: TriggerEvent) -> ExecutionResult:
        attempts.append(event.meta["attempt"])
        now = time.time()
        error = {"type": "cancelled", "message": "execution was cancelled", "retryable": False}
        return ExecutionResult("x", "t", Status.CANCELLED, None, error, now, now, [])

    trigger = RabbitmqTrigger(url=URL, queue=queue_name, maxRetries=2, retryDelay=0.2)
    consumer = RabbitmqConsumer(trigger, URL, run, counts.append)
    await consumer.start()
    try:
        await publish(channel, queue_name, {"id": "order-2"})
        (dead,) = await drain(channel, f"{queue_name}.dead", 1)
    finally:
        await consumer.stop()
    assert attempts == [1]
    assert counts.count("requeued") == 0 and counts.count("dead_lettered") == 1
    assert json.loads(dead.headers[ERROR_HEADER])["type"] == "cancelled"
    await cleanup(channel, queue_name)


async def test_a_retry_that_succeeds_is_acked(channel: Any, queue_name: str) -> None:
    async def run(event: TriggerEvent) -> ExecutionResult:
        return outcome(event, event.meta["attempt"] >= 2)

    counts: list[str] = []
    consumer = RabbitmqConsumer(
        RabbitmqTrigger(url=URL, queue=queue_name, retryDelay=0.1), URL, run, counts.append
    )
    await consumer.start()
    try:
        await publish(channel, queue_name, {"id": 1})
        await wait_until(lambda: "acked" in counts)
    finally:
        await consumer.stop()
    assert counts == ["received", "requeued", "received", "acked"]
    await cleanup(channel, queue_name)


async def test_stop_finishes_in_flight_work_and_unstarted_messages_stay_queued(
    channel: Any, queue_name: str
) -> None:
    release = asyncio.Event()
    started: list[int] = []
    finished: list[int] = []

    async def run(event: TriggerEvent) -> ExecutionResult:
        started.append(event.payload["id"])
        await release.wait()
        finished.append(event.payload["id"])
        return outcome(event, True)

    trigger = RabbitmqTrigger(url=URL, queue=queue_name, prefetch=2)
    consumer = RabbitmqConsumer(trigger, URL, run)
    await consumer.start()
    for n in range(6):
        await publish(channel, queue_name, {"id": n})
    await wait_until(lambda: len(started) == 2)
    stopping = asyncio.create_task(consumer.stop(grace=10))
    await asyncio.sleep(0.2)
    release.set()
    await stopping
    assert sorted(finished) == sorted(started) and len(started) == 2
    rest = await drain(channel, queue_name, 4)
    assert sorted(json.loads(m.body)["id"] for m in rest) == sorted(set(range(6)) - set(started))
    await cleanup(channel, queue_name)


async def test_an_invalid_json_body_is_dead_lettered_not_dropped(
    channel: Any, queue_name: str
) -> None:
    import aio_pika

    async def run(event: TriggerEvent) -> ExecutionResult:
        raise AssertionError("must not run")

    consumer = RabbitmqConsumer(RabbitmqTrigger(url=URL, queue=queue_name), URL, run)
    await consumer.start()
    try:
        await channel.default_exchange.publish(
            aio_pika.Message(b"{not json", content_type="application/json"), routing_key=queue_name
        )
        (dead,) = await drain(channel, f"{queue_name}.dead", 1)
    finally:
        await consumer.stop()
    assert dead.body == b"{not json" and "invalid JSON body" in dead.headers[ERROR_HEADER]
    await cleanup(channel, queue_name)


def test_bodies_are_decoded_by_content_type() -> None:
    assert decode_body(b'{"a": 1}', "application/json") == {"a": 1}
    assert decode_body(b"<order/>", "application/xml") == "<order/>"
    assert decode_body(b'{"a": 1}', None) == {"a": 1}
    assert decode_body(b"\xff\xfe", "application/octet-stream") == b"\xff\xfe"


async def test_poison_messages_are_dead_lettered_with_the_reason_and_do_not_stall_the_queue(
    channel: Any, queue_name: str
) -> None:
    import aio_pika

    seen: list[Any] = []
    counts: list[str] = []

    async def run(event: TriggerEvent) -> ExecutionResult:
        seen.append(event.payload)
        return outcome(event, True)

    # prefetch 1: a poison message that is neither acked nor dead-lettered blocks the rest.
    trigger = RabbitmqTrigger(url=URL, queue=queue_name, prefetch=1)
    consumer = RabbitmqConsumer(trigger, URL, run, counts.append)
    await consumer.start()
    deep = b"[" * 100_000 + b"]" * 100_000
    nested_but_parseable = b"[" * 500 + b"]" * 500
    poison = [
        aio_pika.Message(deep, content_type="application/json", message_id="deep"),
        aio_pika.Message(deep, message_id="deep-untyped"),
        aio_pika.Message(nested_but_parseable, content_type="application/json", message_id="n"),
        aio_pika.Message(b"[NaN]", content_type="application/json", message_id="nan"),
        aio_pika.Message(
            b'{"id": 1}',
            content_type="application/json",
            headers={"x-weir-attempts": "many"},
            message_id="attempts-text",
        ),
        aio_pika.Message(
            b'{"id": 2}',
            content_type="application/json",
            headers={"x-weir-attempts": -1},
            message_id="attempts-negative",
        ),
    ]
    try:
        for message in poison:
            await channel.default_exchange.publish(message, routing_key=queue_name)
        await publish(channel, queue_name, {"id": "good"})
        dead = await drain(channel, f"{queue_name}.dead", len(poison))
        await wait_until(lambda: "acked" in counts)
    finally:
        await consumer.stop()
    assert seen == [{"id": "good"}]
    reasons = {m.message_id: json.loads(m.headers[ERROR_HEADER]) for m in dead}
    assert set(reasons) == {m.message_id for m in poison}
    assert all(r["type"] == "payload" for r in reasons.values())
    assert "nested deeper than" in reasons["deep"]["message"]
    assert "nested deeper than" in reasons["deep-untyped"]["message"]
    assert "nested deeper than" in reasons["n"]["message"]
    assert "NaN" in reasons["nan"]["message"]
    assert "x-weir-attempts" in reasons["attempts-text"]["message"]
    assert "x-weir-attempts" in reasons["attempts-negative"]["message"]
    assert next(m for m in dead if m.message_id == "deep").body == deep
    assert counts.count("dead_lettered") == len(poison)
    declared = await channel.declare_queue(queue_name, passive=True)
    assert declared.declaration_result.message_count == 0
    await cleanup(channel, queue_name)


async def test_an_execution_that_raises_is_dead_lettered_and_the_queue_moves_on(
    channel: Any, queue_name: str
) -> None:
    counts: list[str] = []

    async def run(event: TriggerEvent) -> ExecutionResult:
        if event.payload["id"] == "bug":
            raise RuntimeError("a bug in the engine")
        return outcome(event, True)

    trigger = RabbitmqTrigger(url=URL, queue=queue_name, prefetch=1)
    consumer = RabbitmqConsumer(trigger, URL, run, counts.append)
    await consumer.start()
    try:
        await publish(channel, queue_name, {"id": "bug"})
        await publish(channel, queue_name, {"id": "good"})
        (dead,) = await drain(channel, f"{queue_name}.dead", 1)
        await wait_until(lambda: "acked" in counts)
    finally:
        await consumer.stop()
    error = json.loads(dead.headers[ERROR_HEADER])
    assert error == {"type": "internal", "message": "RuntimeError: a bug in the engine"}
    await cleanup(channel, queue_name)


async def test_an_execution_whose_records_were_not_committed_goes_back_to_the_queue(
    channel: Any, queue_name: str
) -> None:
    from weir.store.base import RecordingUnavailable

    counts: list[str] = []
    runs: list[bool] = []

    async def run(event: TriggerEvent) -> ExecutionResult:
        runs.append(event.meta["redelivered"])
        if len(runs) == 1:
            raise RecordingUnavailable("the store did not answer within 10s", "x")
        return outcome(event, True)

    consumer = RabbitmqConsumer(RabbitmqTrigger(url=URL, queue=queue_name), URL, run, counts.append)
    await consumer.start()
    try:
        await publish(channel, queue_name, {"id": 1})
        await wait_until(lambda: "acked" in counts)
    finally:
        await consumer.stop()
    assert counts == ["received", "returned", "received", "acked"]
    assert runs == [False, True]  # the same message, given back unsettled: not dead-lettered
    dead = await channel.declare_queue(f"{queue_name}.dead", passive=True)
    assert dead.declaration_result.message_count == 0
    await cleanup(channel, queue_name)


class FakeChannel:
    """Records the ack frames an AckBatcher sends."""

    is_closed = False

    def __init__(self) -> None:
        self.frames: list[tuple[int, bool]] = []

    async def basic_ack(self, delivery_tag: int, multiple: bool = False, wait: bool = True) -> None:
        self.frames.append((delivery_tag, multiple))


def broker_acked(
    frames: list[tuple[int, bool]], delivered: int, nacked: frozenset[int] = frozenset()
) -> list[int]:
    """The tags a broker holding deliveries 1..delivered (less those nacked) counts as acked
    after ``frames``."""
    held = [t for t in range(1, delivered + 1) if t not in nacked]
    acked: list[int] = []
    for tag, multiple in frames:
        assert tag in held, f"tag {tag} is not held: the broker would close the channel"
        covered = [t for t in held if t <= tag] if multiple else [tag]
        acked += covered
        held = [t for t in held if t not in covered]
    return sorted(acked)


async def test_executions_settled_together_are_acked_with_one_frame() -> None:
    from weir.triggers.rabbitmq.acks import AckBatcher

    channel = FakeChannel()
    acks = AckBatcher(channel)
    await asyncio.gather(*(acks.ack(tag) for tag in (3, 1, 2, 4)))
    assert channel.frames == [(4, True)]


async def test_a_multiple_ack_never_covers_a_delivery_still_running() -> None:
    from weir.triggers.rabbitmq.acks import AckBatcher

    channel = FakeChannel()
    acks = AckBatcher(channel)
    # 1 is still running: 2 and 3 are acked one by one, at once.
    await asyncio.gather(acks.ack(2), acks.ack(3))
    assert channel.frames == [(2, False), (3, False)]
    acks.settled_alone(5)  # given back (a nack) by a frame of its own
    await acks.ack(1)
    await asyncio.gather(acks.ack(4), acks.ack(6))
    assert broker_acked(channel.frames, delivered=7, nacked=frozenset({5})) == [1, 2, 3, 4, 6]
    assert channel.frames[-1] == (6, True)  # 4 ran on to 6 past the nacked 5: one frame
