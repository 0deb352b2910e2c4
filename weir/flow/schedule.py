"""Cron time arithmetic for a cron trigger: the operator's "next run" and the runner's slots."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from croniter import croniter

from weir.flow.triggers import CronTrigger


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
