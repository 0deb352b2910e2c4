"""Webhook throughput: `weir serve` running webhook → transform → respond, with execution
recording on (SQLite by default), against a bare aiohttp handler doing the same transform. Both
servers run as their own process on loopback, both up at once, and are measured in alternating
rounds (``--rounds``), so that whatever else the machine does weighs on each alike. The load:

* ``--load python`` (the default): this process as the client (aiohttp, fixed concurrency,
  fixed duration). On a small machine the client itself takes a core, so the ratio is
  compressed towards 1.
* ``--load wrk``: `wrk` (``apt-get install wrk`` on Debian/Ubuntu, ``brew install wrk`` on
  macOS), one thread and ``--connections`` connections by default, a C client that leaves the
  server the rest of the machine.

Prints one JSON line: Weir's requests per second over all rounds, p50 (median round) and p99
(worst round) latency, the server's CPU time per request (Linux), the baseline's figures, and
the ratio of the two rates. Both servers run on asyncio's own event loop, as `weir serve` does.

    python bench/webhook.py [--load python|wrk] [--seconds 10] [--rounds 5] [--concurrency 32]
                            [--connections 16] [--threads 1]
                            [--store postgresql://postgres@127.0.0.1:35432/test | --no-store]
                         [--breakdown]

``--breakdown`` runs two more servers in the same alternating rounds, the same flow with
``recording: async`` and with ``--no-store``, and adds each one's ratio to the baseline: how much
of the gap is waiting for the commit, and how much is the record itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import aiohttp
from process_cpu import cpu_seconds

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

WRK_SCRIPT = """\
wrk.method = "POST"
wrk.body = '%s'
wrk.headers["Content-Type"] = "application/json"

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, '
    .. '"non2xx": %%d, "socket_errors": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""

WRK_MISSING = (
    "wrk is not installed: `apt-get install wrk` (Debian/Ubuntu), `brew install wrk` (macOS), "
    "or run with --load python"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_answering(url: str, process: subprocess.Popen[bytes]) -> None:
    """Until the server answers one request correctly; its output if it exits first."""
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            if process.poll() is not None:
                raise RuntimeError(f"the server exited with {process.returncode}")
            try:
                async with session.post(url, json=PAYLOAD) as answer:
                    if answer.status == 200:
                        body = await answer.json()
                        if body.get("total") != 7.5:
                            raise RuntimeError(f"{url} answered a wrong result: {body}")
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} never answered")


async def python_load(url: str, seconds: float, concurrency: int) -> dict[str, Any]:
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


async def wrk_load(
    url: str, seconds: float, connections: int, threads: int, script: Path
) -> dict[str, Any]:
    command = [
        "wrk",
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={max(1, round(seconds))}s",
        f"--script={script}",
        url,
    ]
    run = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True)
    found = re.search(r"^WRK (\{.*\})$", run.stdout, re.MULTILINE)
    if run.returncode != 0 or found is None:
        raise RuntimeError(f"wrk failed ({run.returncode}): {run.stderr or run.stdout}")
    figures = json.loads(found.group(1))
    return {
        "rps": round(figures["requests"] / (figures["duration_us"] / 1e6), 1),
        "p50_ms": round(figures["p50_us"] / 1000, 2),
        "p99_ms": round(figures["p99_us"] / 1000, 2),
        "requests": figures["requests"],
        "errors": figures["non2xx"] + figures["socket_errors"],
    }


class Server:
    """A server process under test: started once, measured in every round."""

    def __init__(self, name: str, command: list[str], port: int, log: Path) -> None:
        self.name = name
        self.url = f"http://127.0.0.1:{port}/orders"
        self.log = log  # a file, not a pipe: a pipe nobody reads would stall a chatty server
        with log.open("wb") as output:
            self.process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        self.rounds: list[dict[str, Any]] = []

    async def ready(self) -> None:
        try:
            await wait_answering(self.url, self.process)
        except RuntimeError as exc:
            self.stop()
            output = self.log.read_text(errors="replace").strip()[-2000:]
            raise RuntimeError(f"{self.name}: {exc}\n{output}") from None

    def cpu_seconds(self) -> float | None:
        """CPU time the server used so far (Linux), a figure other load on the machine barely
        moves, unlike the rate."""
        if not Path(f"/proc/{self.process.pid}").exists():
            return None
        return cpu_seconds(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        self.process.wait(60)


async def one_load(url: str, seconds: float, args: argparse.Namespace) -> dict[str, Any]:
    if args.load == "wrk":
        return await wrk_load(url, seconds, args.connections, args.threads, args.wrk_script)
    return await python_load(url, seconds, args.concurrency)


async def compare(servers: list[Server], args: argparse.Namespace) -> None:
    """Every server up at once, measured in alternating rounds, so that whatever else the
    machine does meanwhile weighs on each alike."""
    for server in servers:
        await server.ready()
        await one_load(server.url, 1.0, args)  # warm-up
    for _ in range(args.rounds):
        for server in servers:
            cpu = server.cpu_seconds()
            figures = await one_load(server.url, args.seconds / args.rounds, args)
            if cpu is not None:
                figures["cpu_s"] = (server.cpu_seconds() or 0) - cpu
            server.rounds.append(figures)


def combined(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One server's rounds as one figure: the rate over all rounds, the median round's p50
    and the worst round's p99."""
    requests = sum(r["requests"] for r in rounds)
    elapsed = sum(r["requests"] / r["rps"] for r in rounds)
    cpu = [r["cpu_s"] for r in rounds if "cpu_s" in r]
    return {
        "rps": round(requests / elapsed, 1),
        "cpu_us_per_request": round(sum(cpu) / requests * 1e6, 1) if cpu else None,
        "p50_ms": statistics.median(r["p50_ms"] for r in rounds),
        "p99_ms": max(r["p99_ms"] for r in rounds),
        "requests": requests,
        "errors": sum(r["errors"] for r in rounds),
        "rounds_rps": [r["rps"] for r in rounds],
    }


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--load", choices=["python", "wrk"], default="python")
    parser.add_argument("--seconds", type=float, default=10.0, help="per server, all rounds")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per server")
    parser.add_argument("--concurrency", type=int, default=32, help="python load: clients")
    parser.add_argument("--connections", type=int, default=16, help="wrk: connections")
    parser.add_argument("--threads", type=int, default=1, help="wrk: threads")
    recording = parser.add_mutually_exclusive_group()
    recording.add_argument("--no-store", action="store_true", help="measure without recording")
    recording.add_argument("--store", help="execution store URL (default: SQLite in a temp dir)")
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="also run the flow with `recording: async` and with --no-store, in the same rounds",
    )
    args = parser.parse_args()
    if args.breakdown and args.no_store:
        parser.error("--breakdown compares recording modes: it needs a store, not --no-store")
    if args.load == "wrk" and shutil.which("wrk") is None:
        parser.exit(2, WRK_MISSING + "\n")
    return args


async def main() -> None:
    args = arguments()
    with tempfile.TemporaryDirectory() as tmp:
        flow = Path(tmp) / "flow.yaml"
        flow.write_text(FLOW)
        baseline_script = Path(tmp) / "baseline.py"
        baseline_script.write_text(BASELINE)
        args.wrk_script = Path(tmp) / "post.lua"
        args.wrk_script.write_text(WRK_SCRIPT % json.dumps(PAYLOAD))
        store = (
            ["--no-store"]
            if args.no_store
            else ["--store", args.store or f"sqlite:///{tmp}/bench.db"]
        )
        weir = weir_server("weir", flow, store, Path(tmp))
        port = free_port()
        baseline_command = [sys.executable, str(baseline_script), str(port)]
        baseline = Server("baseline", baseline_command, port, Path(tmp) / "baseline.log")
        others: dict[str, Server] = {}
        if args.breakdown:
            flow_async = Path(tmp) / "flow-async.yaml"
            flow_async.write_text(FLOW.replace("spec:\n", "spec:\n  recording: async\n", 1))
            store_async = ["--store", args.store or f"sqlite:///{tmp}/bench-async.db"]
            others["async"] = weir_server("weir-async", flow_async, store_async, Path(tmp))
            others["no_store"] = weir_server("weir-no-store", flow, ["--no-store"], Path(tmp))
        servers = [weir, baseline, *others.values()]
        try:
            await compare(servers, args)
        finally:
            for server in servers:
                server.stop()
    line = report(args, combined(weir.rounds), combined(baseline.rounds))
    if others:
        line["breakdown"] = breakdown(weir, baseline, others)
    print(json.dumps(line))


def weir_server(name: str, flow: Path, store: list[str], tmp: Path) -> Server:
    port = free_port()
    command = [sys.executable, "-m", "weir.cli", "serve", str(flow)]
    command += ["--host", "127.0.0.1", "--port", str(port), *store]
    return Server(name, command, port, tmp / f"{name}.log")


def breakdown(weir: Server, baseline: Server, others: dict[str, Server]) -> dict[str, Any]:
    """Each recording mode's rate against the baseline's in the same rounds: what waiting for
    the commit costs (sync against async), and what recording costs at all (against none)."""
    base = combined(baseline.rounds)
    figures = {mode: combined(server.rounds) for mode, server in {"sync": weir, **others}.items()}
    return {
        mode: {
            "ratio": round(mode_figures["rps"] / base["rps"], 3),
            "cpu_us_per_request": mode_figures["cpu_us_per_request"],
            "p99_ms": mode_figures["p99_ms"],
        }
        for mode, mode_figures in figures.items()
    }


def report(
    args: argparse.Namespace, weir: dict[str, Any], baseline: dict[str, Any]
) -> dict[str, Any]:
    load = (
        {"load": "wrk", "threads": args.threads, "connections": args.connections}
        if args.load == "wrk"
        else {"load": "python", "concurrency": args.concurrency}
    )
    return {
        "bench": "webhook",
        **load,
        "recording": not args.no_store,
        "store": "none" if args.no_store else (args.store or "sqlite").split(":")[0],
        "seconds": args.seconds,
        "rounds": args.rounds,
        "weir": weir,
        "baseline_aiohttp": baseline,
        "ratio": round(weir["rps"] / baseline["rps"], 3),
        "target_ratio": 0.6,
        "p99_ratio": round(weir["p99_ms"] / baseline["p99_ms"], 2),
        "target_p99_ratio": 2.0,
        "cpus": os.cpu_count(),
    }


if __name__ == "__main__":
    asyncio.run(main())
