"""Helpers of the polling trigger tests: a flow with a poll trigger on a started SQLite store,
its poller, and what the store recorded."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

import tests.runner.kinds  # noqa: F401  (registers test.sleep)
from weir.engine.executor import Engine
from weir.engine.metrics import RunnerMetrics
from weir.engine.service import FlowService
from weir.secrets.resolve import LocalSecretResolver
from weir.store import open_store
from weir.triggers import TRIGGER_KINDS
from weir.triggers.kind import TriggerSettings
from weir.triggers.poll.poller import Poller


def flow_file(
    tmp_path: Path,
    kind: str,
    trigger: dict[str, Any],
    *,
    seconds: float = 0.0,
    name: str = "arrivals",
    secrets: tuple[str, ...] = (),
) -> Path:
    flow = {
        "apiVersion": "weir.dev/v1alpha1",
        "kind": "Flow",
        "metadata": {"name": name},
        "spec": {
            "secrets": [{"name": secret} for secret in secrets],
            "trigger": {kind: trigger},
            "nodes": [
                {
                    "name": "work",
                    "extension": {
                        "kind": "test.sleep",
                        "config": {"seconds": seconds, "value": "$.input"},
                    },
                }
            ],
        },
    }
    path = tmp_path / "flow.yaml"
    path.write_text(yaml.safe_dump(flow))
    return path


async def poller(flow: Path, store_at: Path | str, environ: dict[str, str] | None = None) -> Poller:
    """A started store (a SQLite file, or a URL) and service, and their (not yet started)
    poller."""
    store = open_store(f"sqlite:///{store_at}" if isinstance(store_at, Path) else store_at)
    await store.start()
    engine = Engine(store=store, secrets=LocalSecretResolver(environ=environ or {}))
    service = FlowService(flow, engine, RunnerMetrics())
    kind = TRIGGER_KINDS[service.flow.flow.spec.trigger.kind]
    runtime = kind.runtime(service, TriggerSettings(grace=5.0, body_timeout=5.0))
    assert isinstance(runtime, Poller)
    return runtime


async def close(runtime: Poller) -> None:
    await runtime.stop()
    await runtime.service.drain(10.0)
    await runtime.service.engine.aclose()


def started(store_at: Path | str) -> list[dict[str, Any]]:
    """The ``$.input`` of every execution recorded, oldest first."""
    query = "SELECT trigger FROM weir_executions ORDER BY started_at"
    if isinstance(store_at, Path):
        with sqlite3.connect(store_at) as db:
            rows = db.execute(query).fetchall()
    else:
        import psycopg

        with psycopg.connect(store_at) as db:
            rows = db.execute(query).fetchall()
    return [json.loads(row[0])["payload"] for row in rows]


def counts(store_at: Path | str, field: str = "path") -> Counter[str]:
    return Counter(str(payload[field]) for payload in started(store_at))


def outcomes(runtime: Poller) -> dict[str, float]:
    return {
        s.labels["outcome"]: s.value
        for family in runtime.service.metrics.registry.collect()
        if family.name == "weir_trigger_events"
        for s in family.samples
        if s.name.endswith("_total")
    }


async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.02)
