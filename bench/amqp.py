"""RabbitMQ relay throughput: `weir serve` consuming XML orders → transform → publish (confirmed,
persistent), with execution recording on (SQLite by default), against a hand-written aio-pika
relay doing the same work with the same prefetch. Both relay the same N messages between fresh
queues on the machine's RabbitMQ; the output queue is then drained to count messages lost.
Weir and the baseline take turns, ``--rounds`` times. ``ratio`` is the median of the rounds'
ratios (a round's two runs follow each other, so they share the machine's other load);
``ratio_of_best`` compares each side's fastest round. Every round's rate is shown, and the CPU
time each relay's process spent per message (all its threads, and its writer process); ``cpu_ratio`` is the baseline's
over Weir's (medians), which other load on the machine disturbs less. One JSON line.

The messages are all queued before a relay starts, so a message's latency would be its wait in
the backlog; only throughput is reported.

    python bench/amqp.py [--messages 20000] [--prefetch 50] [--url amqp://...]
                         [--store postgresql://postgres@127.0.0.1:35432/test | --no-store]
                         [--rounds 2] [--profile weir.txt]

``--profile FILE`` samples Weir's process in the first round with py-spy (``pip install
py-spy``) while it relays and writes py-spy's raw (collapsed stacks) format to FILE.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import aio_pika
from process_cpu import cpu_seconds

FLOW = """\
apiVersion: weir.dev/v1alpha1
kind: Flow
metadata: {{name: bench-amqp}}
spec:
  secrets: [{{name: amqp}}]
  trigger:
    rabbitmq: {{url: {{secret: amqp, key: url}}, queue: {source}, prefetch: {prefetch}}}
  nodes:
    - name: parse
      transform: {{xml2json: {{text: $.input}}}}
      next: publish
    - name: publish
      rabbitmq:
        url: {{secret: amqp, key: url}}
        routingKey: {target}
        messageId: "${{nodes.parse.order['@id']}}"
        message: {{id: "${{nodes.parse.order['@id']}}", customer: $.nodes.parse.order.customer}}
"""

RELAY = textwrap.dedent(
    """
    import asyncio, json, sys
    import aio_pika
    from defusedxml.ElementTree import fromstring

    async def main(url, source, target, prefetch):
        connection = await aio_pika.connect_robust(url)
        channel = await connection.channel(publisher_confirms=True)
        await channel.set_qos(prefetch_count=prefetch)
        queue = await channel.declare_queue(source, durable=True)

        async def handle(message):
            root = fromstring(message.body.decode(), forbid_dtd=True)
            body = {"id": root.get("id"), "customer": root.findtext("customer")}
            await channel.default_exchange.publish(
                aio_pika.Message(json.dumps(body).encode(), content_type="application/json",
                                 message_id=body["id"],
                                 delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                routing_key=target,
            )
            await message.ack()

        async def on_message(message):
            asyncio.get_running_loop().create_task(handle(message))

        await queue.consume(on_message)
        await asyncio.Event().wait()

    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
    """
)


async def publish(url: str, queue: str, count: int) -> None:
    connection = await aio_pika.connect(url)
    channel = await connection.channel(publisher_confirms=True)
    await channel.declare_queue(queue, durable=True)
    for start in range(0, count, 1000):
        await asyncio.gather(
            *(
                channel.default_exchange.publish(
                    aio_pika.Message(
                        f'<order id="o-{i}"><customer>c{i}</customer></order>'.encode(),
                        content_type="application/xml",
                        message_id=f"o-{i}",
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    ),
                    routing_key=queue,
                )
                for i in range(start, min(start + 1000, count))
            )
        )
    await connection.close()


async def depth(channel: aio_pika.abc.AbstractChannel, queue: str) -> int:
    declared = await channel.declare_queue(queue, durable=True)
    return declared.declaration_result.message_count or 0


def sampler(pid: int, output: str) -> subprocess.Popen[bytes]:
    """py-spy sampling the process ``pid`` until it gets SIGINT."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return subprocess.Popen(
        [spy, "record", "--pid", str(pid), "--rate", "200", "--format", "raw", "-o", output],
        stdout=subprocess.DEVNULL,
    )


async def relay(
    url: str,
    command: list[str],
    source: str,
    target: str,
    count: int,
    profile: str | None = None,
) -> dict[str, float]:
    await publish(url, source, count)
    connection = await aio_pika.connect(url)
    channel = await connection.channel()
    await channel.declare_queue(target, durable=True)
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "WEIR_SECRET_AMQP_URL": url},
    )
    spy = None
    try:
        while await depth(channel, target) == 0:  # start-up is not part of the figure
            if process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited {process.returncode}")
            await asyncio.sleep(0.01)
        if profile:
            spy = sampler(process.pid, profile)
        started, cpu = time.perf_counter(), cpu_seconds(process.pid)
        first = await depth(channel, target)
        while (done := await depth(channel, target)) < count:
            if process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited {process.returncode}")
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(process.pid) - cpu
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
        process.terminate()
        process.wait(60)
    ids = set()
    queue = await channel.declare_queue(target, durable=True)
    while (message := await queue.get(fail=False, no_ack=True)) is not None:
        ids.add(json.loads(message.body)["id"])
    for name in (source, f"{source}.retry", f"{source}.dead", target):
        await channel.queue_delete(name)
    await connection.close()
    return {
        "messages_per_second": round((done - first) / elapsed, 1),
        "cpu_ms_per_message": round(1000 * cpu / (done - first), 3),
        "messages": count,
        "lost": count - len(ids),
    }


def best_of(rounds: list[dict[str, float]]) -> dict[str, Any]:
    """The fastest round, every round's rate and CPU time per message, and the messages lost
    over all rounds."""
    best = max(rounds, key=lambda r: r["messages_per_second"])
    return {
        **best,
        "rounds": [r["messages_per_second"] for r in rounds],
        "cpu_ms_per_message_rounds": [r["cpu_ms_per_message"] for r in rounds],
        "lost": sum(int(r["lost"]) for r in rounds),
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--prefetch", type=int, default=50)
    parser.add_argument(
        "--rounds", type=int, default=2, help="Weir then the baseline, this many times"
    )
    # The broker `make services` starts.
    parser.add_argument("--url", default="amqp://guest:guest@127.0.0.1:35672/")
    parser.add_argument("--store", default=None, help="Weir's execution store (default SQLite)")
    parser.add_argument("--no-store", action="store_true", help="measure without recording")
    parser.add_argument("--profile", metavar="FILE", help="py-spy samples of Weir (raw format)")
    args = parser.parse_args()
    weir: list[dict[str, float]] = []
    baseline: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "relay.py"
        script.write_text(RELAY)
        for turn in range(args.rounds):
            tag = f"{uuid.uuid4().hex[:8]}.{turn}"
            source, target = f"bench.in.{tag}", f"bench.out.{tag}"
            flow = Path(tmp) / f"flow-{turn}.yaml"
            flow.write_text(FLOW.format(source=source, target=target, prefetch=args.prefetch))
            store = (
                ["--no-store"]
                if args.no_store
                else ["--store", args.store or f"sqlite:///{tmp}/bench-{turn}.db"]
            )
            serve = [sys.executable, "-m", "weir.cli", "serve", str(flow), "--host", "127.0.0.1"]
            profile = args.profile if turn == 0 else None
            weir.append(
                await relay(
                    args.url,
                    [*serve, "--port", "0", *store],
                    source,
                    target,
                    args.messages,
                    profile,
                )
            )
            source, target = f"bench.in.{tag}.b", f"bench.out.{tag}.b"
            relay_command = [sys.executable, str(script), args.url, source, target]
            baseline.append(
                await relay(
                    args.url, [*relay_command, str(args.prefetch)], source, target, args.messages
                )
            )
    ours, theirs = best_of(weir), best_of(baseline)
    ratios = [
        w["messages_per_second"] / b["messages_per_second"]
        for w, b in zip(weir, baseline, strict=True)
    ]
    print(
        json.dumps(
            {
                "bench": "amqp",
                "recording": not args.no_store,
                "store": None if args.no_store else (args.store or "sqlite").split(":")[0],
                "prefetch": args.prefetch,
                "weir": ours,
                "baseline_aio_pika": theirs,
                "ratio": round(statistics.median(ratios), 3),
                "ratio_of_best": round(
                    ours["messages_per_second"] / theirs["messages_per_second"], 3
                ),
                # The baseline's CPU per message over Weir's: less sensitive to other load.
                "cpu_ratio": round(
                    statistics.median(b["cpu_ms_per_message"] for b in baseline)
                    / statistics.median(w["cpu_ms_per_message"] for w in weir),
                    3,
                ),
                "target_ratio": 0.8,
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
