"""The cron trigger inside `weir serve`: fire on schedule, honouring the concurrency policy.

* ``Allow`` starts a run even while the previous one runs; ``Forbid`` skips the slot;
  ``Replace`` cancels the running one and starts the new one.
* ``startingDeadline``: a slot noticed later than this (the process was suspended, the loop
  blocked) is skipped rather than run late.
* The schedule is read from the current revision at every slot, so a reload takes effect at
  the next one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from croniter import croniter

from weir.engine.executor import TriggerEvent
from weir.engine.service import FlowService
from weir.flow.load import CompiledFlow
from weir.flow.schedule import next_fire, previous_fire, zone
from weir.flow.triggers import CronTrigger
from weir.store.base import RecordingUnavailable
from weir.triggers.kind import TriggerKind, TriggerSettings

if TYPE_CHECKING:
    from aiohttp import web  # the runner extra; only its types are named here

log = logging.getLogger("weir.trigger.cron")


class CronScheduler:
    def __init__(
        self,
        service: FlowService,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.service = service
        self.now = now
        self.running: set[asyncio.Task[object]] = set()
        self.live = False
        self._loop_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    @property
    def trigger(self) -> CronTrigger:
        trigger = self.service.flow.flow.spec.trigger.cron
        assert trigger is not None
        return trigger

    async def start(self) -> None:
        self._loop_task = asyncio.get_running_loop().create_task(self._loop())
        self.live = True

    def reschedule(self) -> None:
        """The schedule may have changed: compute the next slot again."""
        self._wake.set()

    def reloaded(self, old: CompiledFlow, new: CompiledFlow) -> None:
        self.reschedule()

    def resources(self) -> Sequence[web.AbstractResource]:
        return ()

    def problem(self) -> str | None:
        return None

    async def stop(self) -> None:
        """Stop scheduling; runs already started are left to the service's drain."""
        self.live = False
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            trigger = self.trigger
            slot = next_fire(trigger, self.now())
            self._wake.clear()
            delay = (slot - self.now()).total_seconds()
            try:
                async with asyncio.timeout(max(delay, 0)):
                    await self._wake.wait()
                continue  # woken by a reload: the schedule may differ
            except TimeoutError:
                pass
            self._fire(trigger, slot)

    def _fire(self, trigger: CronTrigger, slot: dt.datetime) -> None:
        name, metrics = self.service.name, self.service.metrics
        late = (self.now() - slot).total_seconds()
        if trigger.startingDeadline is not None and late > trigger.startingDeadline:
            log.warning(
                "skipping the run of %s: noticed %.0fs late, past the starting deadline",
                slot.isoformat(),
                late,
            )
            metrics.trigger(name, "cron", "skipped")
            return
        if self.running and trigger.concurrencyPolicy == "Forbid":
            log.info(
                "skipping the run of %s: the previous run is still going (Forbid)", slot.isoformat()
            )
            metrics.trigger(name, "cron", "skipped")
            return
        if self.running and trigger.concurrencyPolicy == "Replace":
            log.info(
                "cancelling the running execution for the run of %s (Replace)", slot.isoformat()
            )
            for task in self.running:
                task.cancel()
        metrics.trigger(name, "cron", "fired")
        task = asyncio.get_running_loop().create_task(
            self.service.execute(cron_event(trigger, scheduled=slot, now=self.now()))
        )
        self.running.add(task)
        task.add_done_callback(self.running.discard)
        task.add_done_callback(_report)


def _report(task: asyncio.Task[Any]) -> None:
    """Where a run ended with an exception rather than an outcome, say so here."""
    error = None if task.cancelled() else task.exception()
    if isinstance(error, RecordingUnavailable):  # recorded once the store answers
        log.warning("a scheduled run is not recorded yet: %s", error)
    elif error is not None:
        log.error("a scheduled run failed: %s", error, exc_info=error)


def cron_event(
    trigger: CronTrigger, *, scheduled: dt.datetime | None = None, now: dt.datetime | None = None
) -> TriggerEvent:
    """The event of one scheduled run: ``$.trigger.scheduledTime`` and ``previousTime``.

    Without an explicit ``scheduled`` time the run belongs to the latest slot at or before now,
    which is right for a CronJob's pod even when it starts a little late.
    """
    now = now or dt.datetime.now(dt.UTC)
    slot = scheduled.astimezone(zone(trigger)) if scheduled else previous_fire(trigger, now)
    previous: dt.datetime = croniter(trigger.schedule, slot).get_prev(dt.datetime)
    return TriggerEvent(
        kind="cron",
        payload={},
        meta={
            "scheduledTime": slot.isoformat(),
            "scheduledDate": slot.date().isoformat(),  # in the trigger's time zone
            "previousTime": previous.isoformat(),
            "startedTime": now.isoformat(),
            "schedule": trigger.schedule,
            "timeZone": trigger.timeZone or "UTC",
        },
    )


def _scheduler(service: FlowService, settings: TriggerSettings) -> CronScheduler:
    return CronScheduler(service)


KIND = TriggerKind(
    name="cron",
    spec=CronTrigger,
    runtime=_scheduler,
    summary="runs the flow on a schedule (a CronJob in a cluster, in-process under weir serve)",
)
