"""Group commit: what waiting for the record costs, by batch policy and SQLite sync level.

Each simulated execution records what a one-node execution records (running, the node run,
the outcome) and, in sync mode, waits until its batch committed; ``concurrency`` of them run
at once for ``seconds``. Policies: ``leader`` (a batch starts as soon as the writer is free)
and fixed intervals; ``async`` records without waiting. Prints one JSON line per setting.

    python bench/recording.py [--seconds 3] [--concurrency 1,16,64] [--store URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid

from weir.store.records import ExecutionRecord, NodeRunRecord
from weir.store.sql import SqlExecutionStore

PAYLOAD = {"id": "A-1", "customer": "ACME", "qty": 3, "price": 2.5}


async def one_execution(store: SqlExecutionStore, wait: bool) -> None:
    now = time.time()
    record = ExecutionRecord(
        uuid.uuid4().hex[:26], "bench", "r1", "rest", {"payload": PAYLOAD}, "running", now
    )
    store.record_execution(record)
    store.record_node(
        NodeRunRecord(
            record.id, 1, "shape", "transform", "succeeded", now, now, [], PAYLOAD, PAYLOAD
        )
    )
    record.status, record.finished_at, record.result = "succeeded", time.time(), PAYLOAD
    store.record_execution(record)
    if wait:
        await store.durable()


async def measure(url: str, interval: float, wait: bool, concurrency: int, seconds: float) -> dict:
    store = SqlExecutionStore(url, interval=interval)
    await store.start()
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await one_execution(store, wait)
            latencies.append(time.perf_counter() - started)
            if not wait:
                await asyncio.sleep(0)  # let the writer run, as a trigger's I/O would

    started = time.perf_counter()
    batches = store.batches_written
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    await store.flush()  # async mode: count the time to get it all written
    elapsed = time.perf_counter() - started
    batches = store.batches_written - batches
    await store.aclose()
    q = statistics.quantiles(latencies, n=100)
    return {
        "executions_per_s": round(len(latencies) / elapsed),
        "p50_ms": round(q[49] * 1000, 3),
        "p99_ms": round(q[98] * 1000, 3),
        "records_per_batch": round(3 * len(latencies) / max(batches, 1), 1),
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--store", help="a store URL instead of SQLite files in a temp dir")
    parser.add_argument("--synchronous", default="normal,full", help="SQLite levels to compare")
    args = parser.parse_args()
    policies = [("leader", 0.0, True), ("fixed 5ms", 0.005, True), ("fixed 20ms", 0.02, True)]
    policies.append(("fixed 100ms", 0.1, True))
    policies.append(("async (leader)", 0.0, False))
    policies.append(("async (fixed 100ms, before)", 0.1, False))
    levels = ["-"] if args.store else args.synchronous.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        for level in levels:
            for concurrency in (int(c) for c in args.concurrency.split(",")):
                for name, interval, wait in policies:
                    url = args.store or f"sqlite+aiosqlite:///{tmp}/{uuid.uuid4().hex}.db"
                    if not args.store:
                        url += f"?synchronous={level}"
                    figures = await measure(url, interval, wait, concurrency, args.seconds)
                    line = {"policy": name, "synchronous": level, "concurrency": concurrency}
                    print(json.dumps({**line, **figures}), flush=True)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
