"""`sleep`: wait for a duration or until a time, durably — the execution parks in the store
and a runner resumes it when the time comes, even after a restart (docs/durable-executions.md).

A sleep of zero or until a time already past continues at once, without parking.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from pydantic import Field, model_validator

from weir.lang.durations import Duration
from weir.lang.errors import ConfigError
from weir.lang.expressions import Value
from weir.lang.times import iso_exact
from weir.lang.types import Strict
from weir.nodes.context import NodeContext
from weir.nodes.kind import NodeKind
from weir.nodes.suspend import Suspend, WaitRequest


class SleepConfig(Strict):
    """Exactly one of ``for`` or ``until``."""

    for_: Duration | None = Field(
        None, alias="for", description='How long: "5s", "1h30m", "2d" or seconds.'
    )
    until: Value | None = Field(
        None,
        description='Until when: ISO 8601 text with a zone ("2026-12-24T18:00:00Z") or an '
        "expression giving it ($.input.at).",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> SleepConfig:
        if (self.for_ is None) == (self.until is None):
            raise ValueError("sleep takes exactly one of for, until")
        return self


async def run(config: SleepConfig, ctx: NodeContext) -> dict[str, Any]:
    now = time.time()
    due = now + config.for_ if config.for_ is not None else _until(ctx.eval(config.until))
    output = {"sleptUntil": iso_exact(due)}
    if due <= now:
        return output
    raise Suspend(WaitRequest("timer", due_at=due, details={"output": output}))


def _until(value: Any) -> float:
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(
                f"sleep.until: {value!r} is not an ISO 8601 time (2026-12-24T18:00:00Z)"
            ) from None
    else:
        raise ConfigError(
            f"sleep.until must be ISO 8601 text (2026-12-24T18:00:00Z), got {type(value).__name__}"
        )
    if moment.tzinfo is None:
        raise ConfigError(f"sleep.until: {value!r} has no time zone: add Z or an offset (+02:00)")
    return moment.timestamp()


KIND = NodeKind(
    "sleep",
    SleepConfig,
    run,
    "Wait for a duration or until a time; the execution parks durably and resumes after a restart.",
)
