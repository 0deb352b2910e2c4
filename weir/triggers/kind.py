"""What a trigger kind is: the spec model it reads and the runtime `weir serve` runs for it.

A runtime takes work for one flow: it starts once the runner's HTTP port is bound, says whether
it is live (``/readyz``), may add aiohttp resources to the runner's app (created before the app
starts, so the router can be frozen), hears about every reload, and stops taking work on
shutdown. Executions it started are left to the service's drain.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel

from weir.engine.service import FlowService
from weir.flow.load import CompiledFlow

if TYPE_CHECKING:
    from aiohttp import web  # the runner extra; only its types are named here


@dataclass(frozen=True)
class TriggerSettings:
    """What the runner, not the flow, decides for its trigger."""

    grace: float
    """Seconds executions in flight get to finish once the trigger stops (``--grace``)."""
    body_timeout: float
    """Seconds an HTTP request may take to send its whole body (``WEIR_REST_BODY_TIMEOUT``)."""


class TriggerRuntime(Protocol):
    @property
    def live(self) -> bool:
        """Taking work now (bound, subscribed, scheduling)."""
        ...

    def resources(self) -> Sequence[web.AbstractResource]:
        """The aiohttp resources to mount on the runner's app; none for a trigger without HTTP."""
        ...

    def problem(self) -> str | None:
        """Why the runner cannot serve although live (say, unreadable credentials), or None."""
        ...

    def reloaded(self, old: CompiledFlow, new: CompiledFlow) -> None:
        """A new revision was swapped in (the trigger kind is the same)."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass(frozen=True)
class TriggerKind:
    """One entry of the trigger registry.

    ``runtime(service, settings)`` builds what `weir serve` runs. A kind whose runtime needs the
    runner's libraries (aiohttp, the MCP SDK) imports them inside it, so that importing the
    registry (the CLI does, for a cron run) never needs them installed.
    """

    name: str
    spec: type[BaseModel]
    runtime: Callable[[FlowService, TriggerSettings], TriggerRuntime]
    summary: str
