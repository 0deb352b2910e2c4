"""The console's store at scale: list pages, content search and a backlog drain.

Seeds ``--executions`` executions (1,000,000 by default) straight into a fresh store's table
with executemany in large transactions (secondary indexes dropped meanwhile and rebuilt, as
the migration defines them), then measures through ``SqlExecutionStore.list_summaries``:

* the first page (50 rows) p50/p99 for several filter mixes: none, flow, status, flow+status,
  a one-day time range;
* a later page (the 20th, reached by cursor), p50/p99;
* a content search for a value deep in the input, by ``jsonpath`` and by ``text`` (p50);
* the largest list row as JSON, in bytes;
* a plain ``SELECT ... ORDER BY started_at DESC LIMIT 50`` on the same table as the baseline,
  and the ratio of the unfiltered first page to it;
* pruning to the newest tenth per flow (the rest deleted in batches of ids);
* a backlog drain: 100,000 executions (two node runs each) through ``ingest`` in batches, in
  a fresh interpreter so that its peak RSS is its own.

SQLite always; PostgreSQL too with ``--store postgresql://...`` (a new schema, dropped after).
Prints one JSON line. Targets (shared/design/CONSOLE-ANCHORS.md): first page p99 <= 300 ms at
1M executions for any indexed filter mix, later pages the same, list rows <= 1 KB, the drain
with bounded memory.

    python bench/console.py [--executions 1000000] [--repeat 30] [--drain 100000]
                            [--batch 200] [--store postgresql://postgres@127.0.0.1:35432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import text

from weir.store import open_store
from weir.store.query import ExecutionFilter
from weir.store.records import ExecutionRecord, NodeRunRecord
from weir.store.rows import EXECUTION_COLUMNS
from weir.store.sql import SqlExecutionStore

FLOWS = [f"flow-{i:02d}" for i in range(20)]
NAMESPACES = ["team-a", "team-b", "team-c", "ops", "default"]
STATUSES = ["succeeded"] * 90 + ["failed"] * 7 + ["running", "cancelled", "interrupted"]
TRIGGERS = ["rest", "schedule", "amqp", "manual"]
SPAN = 30 * 86400.0
"""The executions start over the last 30 days."""
NOW = 1.77e9
SEED_TRANSACTION = 50_000
PAGE = 50
LATER_PAGE = 20
BASELINE = (
    "SELECT id, flow, namespace, revision, trigger_kind, status, started_at, finished_at, "
    "duration_ms, error_type, replay_of FROM weir_executions ORDER BY started_at DESC LIMIT 50"
)


def seeded_rows(count: int, rng: random.Random, runner: str) -> Iterator[tuple[Any, ...]]:
    """Executions in EXECUTION_COLUMNS order, with an input three levels deep."""
    assert EXECUTION_COLUMNS[:3] == ["id", "flow", "revision"] and len(EXECUTION_COLUMNS) == 15
    step = SPAN / count
    for i in range(count):
        started = NOW - SPAN + i * step + rng.random() * step
        status = rng.choice(STATUSES)
        finished = None if status == "running" else started + rng.random() * 5
        duration = None if finished is None else (finished - started) * 1000
        error = error_type = None
        if status == "failed":
            error_type = ("timeout", "http", "validation")[i % 3]
            error = f'{{"type": "{error_type}", "message": "node send failed: upstream {i}"}}'
        trigger = (
            f'{{"payload": {{"order": {{"id": "O-{i}", "customer": {{"id": "C-{i}", '
            f'"tier": "{("gold", "silver")[i % 2]}"}}, "lines": [{{"sku": "S-{i % 997}", '
            f'"qty": {i % 7}}}]}}}}, "receivedAt": {started}}}'
        )
        result = None if status != "succeeded" else f'{{"ok": true, "total": {i % 1000}}}'
        yield (
            time_sorted_id(started, rng),
            rng.choice(FLOWS),
            "r1",
            TRIGGERS[i % len(TRIGGERS)],
            trigger,
            status,
            started,
            finished,
            duration,
            error,
            result,
            None,
            runner,
            rng.choice(NAMESPACES),
            error_type,
        )


def time_sorted_id(started: float, rng: random.Random) -> str:
    """26 characters that sort by start time, as Weir's execution ids do (weir.lang.ids)."""
    return f"{int(started * 1000):013x}{rng.getrandbits(52):013x}"


async def seed(store: SqlExecutionStore, count: int) -> float:
    """Seconds to insert ``count`` executions and rebuild the indexes."""
    assert store._engine is not None
    started = time.perf_counter()
    sqlite = store.dialect == "sqlite"
    async with store._engine.begin() as connection:
        if sqlite:
            query = (
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                "AND tbl_name = 'weir_executions' AND sql IS NOT NULL"
            )
        else:
            query = (
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'weir_executions' "
                "AND schemaname = current_schema() AND indexname NOT LIKE '%%pkey'"
            )
        indexes = (await connection.exec_driver_sql(query)).all()
        for name, _ in indexes:
            await connection.exec_driver_sql(f"DROP INDEX {name}")
        # The running executions are this store's: its sweep must not take them for orphans.
        assert store._runners is not None
        statement, registration = store._runners.registration()
        await connection.exec_driver_sql(statement, registration[0])
        store._runners.registered = True
    mark = "?" if sqlite else "%s"
    insert = (
        f"INSERT INTO weir_executions ({', '.join(EXECUTION_COLUMNS)}) "
        f"VALUES ({', '.join(mark for _ in EXECUTION_COLUMNS)})"
    )
    rows = seeded_rows(count, random.Random(14), store.identity.id)
    while chunk := [row for _, row in zip(range(SEED_TRANSACTION), rows, strict=False)]:
        async with store._engine.begin() as connection:
            await connection.exec_driver_sql(insert, chunk)
    async with store._engine.begin() as connection:
        for _, definition in indexes:
            await connection.exec_driver_sql(definition)
        if not sqlite:
            await connection.exec_driver_sql("ANALYZE weir_executions")
    return time.perf_counter() - started


async def timed(work: Callable[[], Awaitable[Any]], repeat: int) -> dict[str, float]:
    await work()  # warm the cache and the statement
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        await work()
        seconds.append(time.perf_counter() - started)
    seconds.sort()
    return {
        "p50_ms": round(statistics.median(seconds) * 1000, 2),
        "p99_ms": round(seconds[min(len(seconds) - 1, int(len(seconds) * 0.99))] * 1000, 2),
    }


async def measure(store: SqlExecutionStore, repeat: int, count: int) -> dict[str, Any]:
    day = NOW - SPAN / 2
    mixes = {
        "none": ExecutionFilter(),
        "flow": ExecutionFilter(flow="flow-03"),
        "status": ExecutionFilter(statuses=("failed",)),
        "flow_status": ExecutionFilter(flow="flow-03", statuses=("failed",)),
        "namespace_status": ExecutionFilter(namespace="team-b", statuses=("failed", "running")),
        "time_range": ExecutionFilter(started_after=day, started_before=day + 86400),
    }
    sizes: list[int] = []

    async def first_page(wanted: ExecutionFilter) -> None:
        page = await store.list_summaries(wanted, limit=PAGE)
        assert page.items, wanted
        sizes.extend(len(json.dumps(dataclasses.asdict(item))) for item in page.items)

    figures: dict[str, Any] = {"first_page": {}}
    for name, wanted in mixes.items():
        figures["first_page"][name] = await timed(lambda w=wanted: first_page(w), repeat)  # type: ignore[misc]
    cursor = None
    for _ in range(LATER_PAGE - 1):
        cursor = (await store.list_summaries(ExecutionFilter(), cursor=cursor)).next_cursor
    figures["later_page"] = {
        "page": LATER_PAGE,
        **await timed(lambda: store.list_summaries(ExecutionFilter(), cursor=cursor), repeat),
    }
    deep = f"C-{count // 3}"
    searches = {
        "jsonpath": ExecutionFilter(jsonpath=f'$.input.order.customer.id == "{deep}"'),
        "text": ExecutionFilter(text=f'"{deep}"'),
    }
    figures["search"] = {}
    for name, wanted in searches.items():

        async def search(w: ExecutionFilter = wanted) -> None:
            found = await store.list_summaries(w, limit=PAGE)
            assert len(found.items) == 1, (w, found.items)

        figures["search"][name] = {"p50_ms": (await timed(search, 3))["p50_ms"]}
    assert store._engine is not None
    async with store._engine.connect() as connection:

        async def plain() -> None:
            (await connection.execute(text(BASELINE))).all()

        figures["baseline_plain_select"] = await timed(plain, repeat)
    figures["max_row_bytes"] = max(sizes)
    figures["ratio"] = round(
        figures["first_page"]["none"]["p50_ms"] / figures["baseline_plain_select"]["p50_ms"], 2
    )
    return figures


async def prune(store: SqlExecutionStore, count: int) -> dict[str, Any]:
    """Keep the newest tenth of each flow (per namespace): nine in ten executions go."""
    keep = max(1, count // (len(FLOWS) * len(NAMESPACES)) // 10)
    started = time.perf_counter()
    deleted = await store.prune(max_age=None, max_per_flow=keep)
    seconds = time.perf_counter() - started
    return {
        "kept_per_flow": keep,
        "deleted": deleted,
        "seconds": round(seconds, 1),
        "deleted_per_s": round(deleted / seconds),
    }


def shipped_batches(total: int, batch: int) -> Iterator[list[tuple[ExecutionRecord, list]]]:
    """What runners ship: finished executions with two node runs, generated batch by batch."""
    rng = random.Random(7)
    for start in range(0, total, batch):
        items = []
        for i in range(start, min(total, start + batch)):
            began = NOW - 3600 + i * 0.01
            payload = {"order": {"id": f"O-{i}", "lines": [{"sku": "S-1", "qty": 2}]}}
            record = ExecutionRecord(
                id=time_sorted_id(began, rng),
                flow=FLOWS[i % len(FLOWS)],
                revision="r1",
                trigger_kind="rest",
                trigger={"payload": payload},
                status="succeeded",
                started_at=began,
                finished_at=began + 0.02,
                result={"ok": True},
                namespace=NAMESPACES[i % len(NAMESPACES)],
            )
            nodes = [
                NodeRunRecord(record.id, seq, f"n{seq}", "transform", "succeeded", began, began)
                for seq in (1, 2)
            ]
            for node in nodes:
                node.input = node.output = payload
            items.append((record, nodes))
        yield items


async def drain(url: str, total: int, batch: int) -> dict[str, Any]:
    store = open_store(url)
    await store.start()
    idle = _peak_rss_mb()
    started = time.perf_counter()
    changed = 0
    try:
        for items in shipped_batches(total, batch):
            changed += await store.ingest(items, runner="bench-runner")
        seconds = time.perf_counter() - started
        assert changed == total, changed
        assert await store.ingest(next(shipped_batches(batch, batch)), runner="bench-runner") == 0
    finally:
        await store.aclose()
    return {
        "executions": total,
        "batch": batch,
        "seconds": round(seconds, 2),
        "executions_per_s": round(total / seconds),
        "peak_rss_mb": _peak_rss_mb(),
        "rss_before_mb": idle,
    }


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def drain_in_child(url: str, total: int, batch: int) -> dict[str, Any]:
    """In a fresh interpreter: ru_maxrss is a process's peak, and seeding is not the drain."""
    command = [sys.executable, __file__, "--phase", "drain", "--store", url]
    command += ["--drain", str(total), "--batch", str(batch)]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the drain failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


async def one_store(url: str, args: argparse.Namespace, drain_url: str) -> dict[str, Any]:
    store = open_store(url)
    await store.start()
    try:
        seconds = await seed(store, args.executions)
        figures = await measure(store, args.repeat, args.executions)
        figures["prune"] = await prune(store, args.executions)
    finally:
        await store.aclose()
    return {
        "seed_seconds": round(seconds, 1),
        **figures,
        "drain": drain_in_child(drain_url, args.drain, args.batch),
    }


def _schema(url: str, name: str, create: bool) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:
        verb = "CREATE SCHEMA" if create else "DROP SCHEMA IF EXISTS"
        connection.exec_driver_sql(f"{verb} {name}{'' if create else ' CASCADE'}")
    engine.dispose()


def _in_schema(url: str, schema: str) -> str:
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}options=-csearch_path%3D{schema}"


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--executions", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30, help="timed runs per query")
    parser.add_argument("--drain", type=int, default=100_000, help="executions to ingest")
    parser.add_argument("--batch", type=int, default=200, help="executions per ingest batch")
    parser.add_argument("--store", help="postgresql://... to measure PostgreSQL too")
    parser.add_argument("--phase", choices=["all", "drain"], default="all", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "drain":
        print(json.dumps(await drain(args.store, args.drain, args.batch)), flush=True)
        return 0
    line: dict[str, Any] = {"bench": "console", "executions": args.executions, "page": PAGE}
    with tempfile.TemporaryDirectory() as tmp:
        line["sqlite"] = await one_store(
            f"sqlite:///{tmp}/console.db", args, f"sqlite:///{tmp}/drain.db"
        )
    if args.store:
        schemas = [f"weir_bench_{uuid.uuid4().hex[:8]}" for _ in range(2)]
        for schema in schemas:
            _schema(args.store, schema, create=True)
        try:
            line["postgresql"] = await one_store(
                _in_schema(args.store, schemas[0]), args, _in_schema(args.store, schemas[1])
            )
        finally:
            for schema in schemas:
                _schema(args.store, schema, create=False)
    line["cpus"] = os.cpu_count()
    print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(asyncio.run(main()))
