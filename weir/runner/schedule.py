"""Cron time arithmetic shared by the one-shot `weir run --trigger cron` (what a Kubernetes
CronJob runs) and the in-process scheduler of `weir serve`."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from croniter import croniter

from weir.flow.triggers import CronTrigger
from weir.runner.engine import TriggerEvent


def zone(trigger: CronTrigger) -> dt.tzinfo:
    return zoneinfo.ZoneInfo(trigger.timeZone) if trigger.timeZone else dt.UTC


def previous_fire(trigger: CronTrigger, before: dt.datetime) -> dt.datetime:
    """The last scheduled time at or before ``before``, in the trigger's time zone."""
    local = before.astimezone(zone(trigger))
    if (
        croniter.match(trigger.schedule, local.replace(second=0, microsecond=0))
        and local.second == 0
    ):
        return local.replace(microsecond=0)
    fire: dt.datetime = croniter(trigger.schedule, local).get_prev(dt.datetime)
    return fire


def next_fire(trigger: CronTrigger, after: dt.datetime) -> dt.datetime:
    fire: dt.datetime = croniter(trigger.schedule, after.astimezone(zone(trigger))).get_next(
        dt.datetime
    )
    return fire


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
