"""The manual trigger kind: nothing to listen to. Executions come from `weir run` (or, in a
cluster, a ``weir.dev/run`` annotation), so `weir serve` only keeps the runner's health,
readiness and metrics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from weir.engine.service import FlowService
from weir.flow.load import CompiledFlow
from weir.flow.triggers import ManualTrigger
from weir.triggers.kind import TriggerKind, TriggerSettings

if TYPE_CHECKING:
    from aiohttp import web  # the runner extra; only its types are named here


class Idle:
    live = True

    def __init__(self, service: FlowService, settings: TriggerSettings) -> None:
        self.service = service

    def resources(self) -> Sequence[web.AbstractResource]:
        return ()

    def problem(self) -> str | None:
        return None

    def reloaded(self, old: CompiledFlow, new: CompiledFlow) -> None:
        """Nothing runs on its own, so nothing changes."""

    async def start(self) -> None:
        """Nothing to listen to."""

    async def stop(self) -> None:
        """Nothing to stop."""


KIND = TriggerKind(
    name="manual",
    spec=ManualTrigger,
    runtime=Idle,
    summary="runs only when asked: weir run, or a weir.dev/run annotation in a cluster",
)
