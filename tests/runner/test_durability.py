"""Every answered request and every acked message has its record, through kill -9: `weir serve`
under concurrent load is killed, restarted, and the store is read (SQLite, RabbitMQ from the
suite's services). Executions the killed runner left running are interrupted, never running,
and only ones nobody got an answer for."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.runner.serving import Served
from tests.servers.services import RABBITMQ

WEBHOOK = """
apiVersion: weir.dev/v1alpha1
kind: Flow
metadata: {name: durable-webhook}
spec:
  trigger: {rest: {path: /orders, methods: [POST]}}
  nodes:
    - name: shape
      transform: {merge: [$.input, {seen: true}]}
"""

AMQP = """
apiVersion: weir.dev/v1alpha1
kind: Flow
metadata: {name: durable-amqp}
spec:
  secrets: [{name: amqp}]
  trigger:
    rabbitmq: {url: {secret: amqp, key: url}, queue: QUEUE, prefetch: 50}
  nodes:
    - name: shape
      transform: {merge: [$.input, {seen: true}]}
"""

SLEEPY = """
apiVersion: weir.dev/v1alpha1
kind: Flow
metadata: {name: sleepy}
spec:
  trigger: {rest: {path: /slow, methods: [POST]}}
  nodes:
    - name: nap
      extension: {kind: test.sleep, config: {seconds: 600}}
"""


def stored(database: Path) -> dict[str, tuple[str, dict[str, Any], int]]:
    """Every execution: its status, its trigger and how many node runs it recorded."""
    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "SELECT e.id, e.status, e.trigger, COUNT(n.seq) FROM weir_executions e "
            "LEFT JOIN weir_node_runs n ON n.execution_id = e.id GROUP BY e.id"
        ).fetchall()
    return {row[0]: (row[1], json.loads(row[2]), row[3]) for row in rows}


def interrupted_metric(served: Served, flow: str) -> float:
    text = httpx.get(served.url + "/metrics").text
    pattern = rf'^weir_executions_interrupted_total\{{flow="{flow}"\}} (\S+)$'
    return sum(float(value) for value in re.findall(pattern, text, re.MULTILINE))


def check_after_restart(
    database: Path, flow: Path, answered: set[str], store: list[str], env: dict[str, str]
) -> dict[str, tuple[str, dict[str, Any], int]]:
    """Restart the runner on the store, and check what it found against what was answered."""
    second = Served(flow, *store, env=env)
    second.wait_ready()
    records = stored(database)
    interrupted = {i for i, (status, _, _) in records.items() if status == "interrupted"}
    assert interrupted_metric(second, flow_name(flow)) == len(interrupted)
    assert second.terminate() == 0, second.output()

    missing = sorted(answered - set(records))
    assert missing == [], f"{len(missing)} answered executions left no record"
    assert [i for i in answered if records[i][0] != "succeeded"] == []
    assert [i for i in answered if records[i][2] != 1] == [], "answered without its node run"
    assert [i for i, (status, _, _) in records.items() if status == "running"] == []
    assert interrupted.isdisjoint(answered)
    return records


def flow_name(flow: Path) -> str:
    found = re.search(r"metadata: \{name: ([\w-]+)\}", flow.read_text())
    assert found is not None
    return found[1]


async def test_every_answered_request_has_its_record_through_kill_9(tmp_path: Path) -> None:
    import aiohttp

    flow, database = tmp_path / "flow.yaml", tmp_path / "store.db"
    flow.write_text(WEBHOOK)
    store = ["--store", f"sqlite:///{database}"]
    first = Served(flow, *store)
    first.wait_ready()
    answered: set[str] = set()

    async def client(session: aiohttp.ClientSession, number: int) -> None:
        for n in range(1_000_000):
            try:
                async with session.post(
                    f"{first.url}/orders", json={"client": number, "n": n}
                ) as answer:
                    await answer.read()
                    if answer.status == 200:
                        answered.add(answer.headers["X-Weir-Execution-Id"])
            except aiohttp.ClientError:
                return  # the runner is gone

    async with aiohttp.ClientSession() as session:
        clients = [asyncio.ensure_future(client(session, c)) for c in range(16)]
        while len(answered) < 1_500:
            await asyncio.sleep(0.05)
            assert not all(c.done() for c in clients), first.output()
        first.kill()  # mid-load: requests are in flight
        await asyncio.wait_for(asyncio.gather(*clients), 30)

    records = check_after_restart(database, flow, answered, store, {})
    assert len(records) >= len(answered) >= 1_500


@pytest.fixture
async def amqp_queue() -> AsyncIterator[str]:
    RABBITMQ.require()
    import aio_pika

    queue = f"durable.{uuid.uuid4().hex[:8]}"
    yield queue
    connection = await aio_pika.connect(RABBITMQ.url)
    channel = await connection.channel()
    for name in (queue, f"{queue}.retry", f"{queue}.dead"):
        await channel.queue_delete(name)
    await connection.close()


async def publish(queue: str, count: int) -> None:
    import aio_pika

    connection = await aio_pika.connect(RABBITMQ.url)
    channel = await connection.channel(publisher_confirms=True)
    await channel.declare_queue(queue, durable=True)
    for start in range(0, count, 500):
        await asyncio.gather(
            *(
                channel.default_exchange.publish(
                    aio_pika.Message(
                        json.dumps({"n": n}).encode(),
                        content_type="application/json",
                        message_id=f"m-{n}",
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    ),
                    routing_key=queue,
                )
                for n in range(start, min(start + 500, count))
            )
        )
    await connection.close()


async def queue_state(queue: str) -> tuple[int, int]:
    """Messages ready in the queue, and its consumers."""
    import aio_pika

    connection = await aio_pika.connect(RABBITMQ.url)
    channel = await connection.channel()
    declared = await channel.declare_queue(queue, durable=True)
    result = declared.declaration_result
    await connection.close()
    return result.message_count or 0, result.consumer_count or 0


async def take_all(queue: str) -> set[str]:
    """The ids of the messages still in the queue (taken out of it)."""
    import aio_pika

    connection = await aio_pika.connect(RABBITMQ.url)
    channel = await connection.channel()
    declared = await channel.declare_queue(queue, durable=True)
    ids = set()
    while (message := await declared.get(fail=False, no_ack=True)) is not None:
        ids.add(message.message_id)
    await connection.close()
    return ids


async def test_every_acked_message_has_its_record_through_kill_9(
    amqp_queue: str, tmp_path: Path
) -> None:
    published = {f"m-{n}" for n in range(6_000)}
    await publish(amqp_queue, len(published))
    flow, database = tmp_path / "flow.yaml", tmp_path / "store.db"
    flow.write_text(AMQP.replace("QUEUE", amqp_queue))
    store, env = ["--store", f"sqlite:///{database}"], {"WEIR_SECRET_AMQP_URL": RABBITMQ.url}

    first = Served(flow, *store, env=env)
    first.wait_ready()
    deadline = time.monotonic() + 60
    while (await queue_state(amqp_queue))[0] > len(published) - 1_500:
        assert time.monotonic() < deadline, first.output()
        await asyncio.sleep(0.05)
    first.kill()  # mid-load: what it had not acked goes back to the queue
    while (await queue_state(amqp_queue))[1] > 0:  # until the broker noticed
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    remaining = await take_all(amqp_queue)
    assert remaining, "everything was consumed before the kill; publish more"
    acked = published - remaining

    records = check_after_restart(database, flow, set(), store, env)
    by_message: dict[str, set[str]] = {}
    for status, trigger, _ in records.values():
        by_message.setdefault(trigger["messageId"], set()).add(status)
    unrecorded = sorted(m for m in acked if "succeeded" not in by_message.get(m, set()))
    assert unrecorded == [], f"{len(unrecorded)} acked messages left no record"
    interrupted = {m for m, statuses in by_message.items() if "interrupted" in statuses}
    assert interrupted <= remaining


async def test_an_interrupted_execution_is_listed_shown_and_counted(tmp_path: Path) -> None:
    flow, database = tmp_path / "flow.yaml", tmp_path / "store.db"
    flow.write_text(SLEEPY)
    store = ["--store", f"sqlite:///{database}"]
    first = Served(flow, *store)
    first.wait_ready()
    async with httpx.AsyncClient() as client:
        request = asyncio.ensure_future(client.post(f"{first.url}/slow", json={}, timeout=60))
        deadline = time.monotonic() + 30
        while not (database.exists() and stored(database)):
            assert time.monotonic() < deadline, first.output()
            await asyncio.sleep(0.05)
        first.kill()
        with pytest.raises(httpx.TransportError):
            await request
    ((execution_id, (status, _, _)),) = stored(database).items()
    assert status == "running"

    second = Served(flow, *store)
    second.wait_ready()
    assert interrupted_metric(second, "sleepy") == 1
    assert second.terminate() == 0, second.output()

    listed = weir("executions", "list", *store, "--status", "interrupted")
    assert execution_id in listed and "interrupted" in listed
    shown = weir("executions", "show", execution_id, *store)
    assert re.search(r"^status\s+interrupted$", shown, re.MULTILINE)
    assert "the runner stopped while this execution ran" in shown
    (record,) = json.loads(weir("executions", "list", *store, "--json"))
    assert record["status"] == "interrupted" and record["finishedAt"] is not None
    assert record["error"]["type"] == "interrupted"


def weir(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "weir.cli", *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_a_request_whose_record_cannot_be_committed_in_time_gets_a_503(
    tmp_path: Path,
) -> None:
    flow, database = tmp_path / "flow.yaml", tmp_path / "store.db"
    flow.write_text(WEBHOOK)
    with Served(
        flow, "--store", f"sqlite:///{database}", env={"WEIR_RECORD_WAIT": "0.5"}
    ) as served:
        blocker = sqlite3.connect(database, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # the store's writes wait (5 s at most, then retry)
        try:
            answer = httpx.post(f"{served.url}/orders", json={"n": 1}, timeout=30)
        finally:
            blocker.execute("COMMIT")
            blocker.close()
        assert answer.status_code == 503, answer.text
        assert answer.headers["Retry-After"] == "5"
        assert "the execution is not recorded" in answer.json()["error"]["message"]
        execution_id = answer.headers["X-Weir-Execution-Id"]
        deadline = time.monotonic() + 30
        while stored(database).get(execution_id, ("",))[0] != "succeeded":
            assert time.monotonic() < deadline, served.output()
            await asyncio.sleep(0.1)


async def test_an_accepted_request_is_recorded_before_its_202(tmp_path: Path) -> None:
    flow, database = tmp_path / "flow.yaml", tmp_path / "store.db"
    flow.write_text(SLEEPY.replace("{path: /slow, methods: [POST]}", "{path: /later, mode: async}"))
    store = ["--store", f"sqlite:///{database}"]
    first = Served(flow, *store)
    first.wait_ready()
    blocker = sqlite3.connect(database, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # the store's writes wait
    try:
        async with httpx.AsyncClient() as client:
            request = asyncio.ensure_future(client.post(f"{first.url}/later", json={"n": 1}))
            await asyncio.sleep(1.0)
            assert not request.done(), "accepted before its record was committed"
            blocker.execute("COMMIT")
            answer = await asyncio.wait_for(request, 30)
    finally:
        blocker.close()
    assert answer.status_code == 202, answer.text
    execution_id = answer.json()["executionId"]
    assert stored(database)[execution_id][0] == "running"  # committed before the answer
    first.kill()

    second = Served(flow, *store)
    second.wait_ready()
    assert second.terminate() == 0, second.output()
    assert stored(database)[execution_id][0] == "interrupted"
