"""The in-process cron scheduler's policies: Forbid skips a slot while a run goes, Replace
cancels it, Allow overlaps, and a slot noticed past the starting deadline is skipped."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

import tests.runner.kinds  # noqa: F401  (registers test.sleep)
from weir.engine.executor import Engine
from weir.engine.metrics import RunnerMetrics
from weir.engine.service import FlowService
from weir.secrets.resolve import LocalSecretResolver
from weir.triggers.cron import CronScheduler

SLOT = dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.UTC)


def service(tmp_path: Path, policy: str, deadline: str = "1m") -> FlowService:
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        "apiVersion: weir.dev/v1alpha1\nkind: Flow\nmetadata: {name: ticks}\nspec:\n"
        f"  trigger: {{cron: {{schedule: '0 * * * *', concurrencyPolicy: {policy}, "
        f"startingDeadline: {deadline}}}}}\n"
        "  nodes:\n    - {name: work, extension: {kind: test.sleep, config: {seconds: 0.5}}}\n"
    )
    engine = Engine(secrets=LocalSecretResolver(environ={}))
    return FlowService(flow, engine, RunnerMetrics())


def events(svc: FlowService) -> dict[str, float]:
    return {
        s.labels["outcome"]: s.value
        for family in svc.metrics.registry.collect()
        if family.name == "weir_trigger_events"
        for s in family.samples
        if s.name.endswith("_total")
    }


@pytest.mark.parametrize(("policy", "running", "fired"), [("Forbid", 1, 1), ("Allow", 2, 2)])
async def test_a_second_slot_while_one_runs(
    tmp_path: Path, policy: str, running: int, fired: float
) -> None:
    svc = service(tmp_path, policy)
    scheduler = CronScheduler(svc, now=lambda: SLOT)
    scheduler._fire(scheduler.trigger, SLOT)
    await asyncio.sleep(0.05)
    scheduler._fire(scheduler.trigger, SLOT + dt.timedelta(hours=1))
    assert len(scheduler.running) == running
    assert events(svc).get("fired") == fired
    if policy == "Forbid":
        assert events(svc)["skipped"] == 1
    await asyncio.gather(*scheduler.running, return_exceptions=True)
    await svc.engine.aclose()


async def test_replace_cancels_the_running_execution(tmp_path: Path) -> None:
    svc = service(tmp_path, "Replace")
    scheduler = CronScheduler(svc, now=lambda: SLOT)
    scheduler._fire(scheduler.trigger, SLOT)
    first = next(iter(scheduler.running))
    await asyncio.sleep(0.05)
    scheduler._fire(scheduler.trigger, SLOT + dt.timedelta(hours=1))
    await asyncio.gather(*scheduler.running, return_exceptions=True)
    assert first.cancelled() or (first.done() and not first.result().ok)
    await svc.engine.aclose()


async def test_a_slot_noticed_past_the_starting_deadline_is_skipped(tmp_path: Path) -> None:
    svc = service(tmp_path, "Allow", deadline="1m")
    late = CronScheduler(svc, now=lambda: SLOT + dt.timedelta(minutes=5))
    late._fire(late.trigger, SLOT)
    assert not late.running and events(svc) == {"skipped": 1.0}
    on_time = CronScheduler(svc, now=lambda: SLOT + dt.timedelta(seconds=30))
    on_time._fire(on_time.trigger, SLOT)
    assert len(on_time.running) == 1
    (execution,) = await asyncio.gather(*on_time.running)
    assert execution.ok
    await svc.engine.aclose()
