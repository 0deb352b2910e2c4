"""Webhook throughput: `weir serve` running webhook → transform → respond, with execution
recording on (SQLite), against a bare aiohttp handler doing the same transform. Both servers run
as their own process on loopback and face the same load generator (this process: aiohttp
client, fixed concurrency, fixed duration). Prints one JSON line.

    python bench/webhook.py [--seconds 10] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import aiohttp

FLOW = """\
apiVersion: weir.dev/v1alpha1
kind: Flow
metadata: {name: bench-webhook}
spec:
  trigger: {rest: {path: /orders, methods: [POST]}}
  nodes:
    - name: shape
      transform:
        merge:
          - $.input
          - {receivedAt: $.trigger.receivedAt, total: "${double(input.qty) * input.price}"}
"""

BASELINE = textwrap.dedent(
    """
    import datetime as dt, sys
    from aiohttp import web

    async def orders(request):
        data = await request.json()
        shaped = {**data, "receivedAt": dt.datetime.now(dt.UTC).isoformat(),
                  "total": data["qty"] * data["price"]}
        return web.json_response(shaped)

    app = web.Application()
    app.router.add_post("/orders", orders)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
    """
)

PAYLOAD = {"id": "A-1", "customer": "ACME", "qty": 3, "price": 2.5}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_listening(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            try:
                async with session.post(url, json=PAYLOAD) as answer:
                    if answer.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} never answered")


async def load(url: str, seconds: float, concurrency: int) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                async with session.post(url, json=PAYLOAD) as answer:
                    body = await answer.json()
                    if answer.status != 200 or body.get("total") != 7.5:
                        errors += 1
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    quantiles = statistics.quantiles(latencies, n=100)
    return {
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(quantiles[49] * 1000, 2),
        "p99_ms": round(quantiles[98] * 1000, 2),
        "requests": len(latencies),
        "errors": errors,
    }


async def measure(
    command: list[str], url: str, seconds: float, concurrency: int
) -> dict[str, float]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await wait_listening(url)
        await load(url, 1.0, concurrency)  # warm-up
        return await load(url, seconds, concurrency)
    finally:
        process.terminate()
        process.wait(60)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--no-store", action="store_true", help="measure without recording")
    parser.add_argument("--store", help="execution store URL (default: SQLite in a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        flow = Path(tmp) / "flow.yaml"
        flow.write_text(FLOW)
        baseline_script = Path(tmp) / "baseline.py"
        baseline_script.write_text(BASELINE)
        port = free_port()
        weir = await measure(
            [
                sys.executable,
                "-m",
                "weir.cli",
                "serve",
                str(flow),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                *(
                    ["--no-store"]
                    if args.no_store
                    else ["--store", args.store or f"sqlite:///{tmp}/bench.db"]
                ),
            ],
            f"http://127.0.0.1:{port}/orders",
            args.seconds,
            args.concurrency,
        )
        port = free_port()
        baseline = await measure(
            [sys.executable, str(baseline_script), str(port)],
            f"http://127.0.0.1:{port}/orders",
            args.seconds,
            args.concurrency,
        )
    print(
        json.dumps(
            {
                "bench": "webhook",
                "recording": not args.no_store,
                "store": "none" if args.no_store else (args.store or "sqlite").split(":")[0],
                "concurrency": args.concurrency,
                "seconds": args.seconds,
                "weir": weir,
                "baseline_aiohttp": baseline,
                "ratio": round(weir["rps"] / baseline["rps"], 3),
                "target_ratio": 0.6,
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
