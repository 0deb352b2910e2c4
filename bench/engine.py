"""Engine overhead per node: chains of 1, 10 and 100 no-op nodes, execution recording on
(SQLite store, batched writes included in the time), against the same chains written as plain
awaited coroutines in the same process. Prints one JSON line.

    python bench/engine.py [--executions N] [--store URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from weir.engine.executor import Engine, TriggerEvent
from weir.flow.load import CompiledFlow, load_flows_text
from weir.lang.types import Strict
from weir.nodes.context import NodeContext
from weir.nodes.extension import register_extension
from weir.nodes.kind import NodeKind
from weir.store import open_store


class NoopConfig(Strict):
    pass


async def noop(config: NoopConfig, ctx: NodeContext) -> Any:
    return None


register_extension(NodeKind("bench.noop", NoopConfig, noop, "does nothing"))


def chain(length: int) -> CompiledFlow:
    nodes = []
    for i in range(length):
        node: dict[str, Any] = {"name": f"n{i}", "extension": {"kind": "bench.noop"}}
        if i + 1 < length:
            node["next"] = f"n{i + 1}"
        nodes.append(node)
    flow = {
        "apiVersion": "weir.dev/v1alpha1",
        "kind": "Flow",
        "metadata": {"name": "chain"},
        "spec": {"trigger": {"manual": {}}, "nodes": nodes},
    }
    return load_flows_text(json.dumps(flow))[0]


async def plain_chain(length: int) -> None:
    value = None
    for _ in range(length):
        value = await noop(NoopConfig(), None)  # type: ignore[arg-type]
    del value


async def measure(length: int, executions: int, store_url: str) -> dict[str, float]:
    compiled = chain(length)
    store = open_store(store_url)
    await store.start()
    engine = Engine(store=store)
    event = TriggerEvent(payload={"n": 1})
    for _ in range(20):  # warm-up
        await engine.execute(compiled, event)
    await store.flush()
    started = time.perf_counter()
    for _ in range(executions):
        await engine.execute(compiled, event)
    await store.flush()
    weir_seconds = time.perf_counter() - started
    await engine.aclose()

    started = time.perf_counter()
    for _ in range(executions):
        await plain_chain(length)
    plain_seconds = time.perf_counter() - started
    return {
        "weir_us_per_execution": weir_seconds / executions * 1e6,
        "plain_us_per_execution": plain_seconds / executions * 1e6,
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--executions", type=int, default=300)
    parser.add_argument("--store", default=None, help="default: a temporary SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.store or f"sqlite:///{Path(tmp) / 'bench.db'}"
        chains = {n: await measure(n, args.executions, url) for n in (1, 10, 100)}
    slope = (chains[100]["weir_us_per_execution"] - chains[1]["weir_us_per_execution"]) / 99
    plain_slope = (chains[100]["plain_us_per_execution"] - chains[1]["plain_us_per_execution"]) / 99
    line = {
        "bench": "engine",
        "recording": True,
        "executions_per_chain": args.executions,
        "per_node_us": round(slope, 2),
        "baseline_per_node_us": round(plain_slope, 3),
        "ratio": round(slope / plain_slope, 1) if plain_slope > 0 else None,
        "chains": {
            str(n): {k: round(v, 2) for k, v in figures.items()} for n, figures in chains.items()
        },
        "target_per_node_us": 20,
    }
    print(json.dumps(line))


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
