"""The runner's end of the cancel channel: it long-polls the console for the executions of this
runner whose cancel a user asked for (``GET /api/v1/cancellations?runner=ID&wait=20``) and
cancels those it runs. The console names an execution until it learns (from what the runner
ships) that it ended, so an id already handled is not cancelled again."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable

from weir.serve.console_client import ConsoleClient, ConsoleUnavailable
from weir.serve.streak import FailureStreak

log = logging.getLogger("weir.ship")

WAIT = 20.0
"""Seconds the console holds a poll while there is nothing to cancel."""
SETTLE = 1.0
"""Seconds between polls while the console names only executions handled already."""
REMEMBERED = 1000


class CancelListener:
    def __init__(
        self,
        client: ConsoleClient,
        runner: str,
        cancel: Callable[[str], bool],
        *,
        flow: str = "",
        namespace: str = "",
        wait: float = WAIT,
    ) -> None:
        self.client = client
        self.runner = runner
        self.cancel = cancel
        self.scope = {"flow": flow, "namespace": namespace}
        self.wait = wait
        self.streak = FailureStreak(log, f"asking the console at {client.url} for cancellations")
        self._handled: OrderedDict[str, bool] = OrderedDict()

    async def run(self) -> None:
        """Poll and cancel until cancelled."""
        while True:
            try:
                ids = await self.client.cancellations(self.runner, self.wait, **self.scope)
            except ConsoleUnavailable as exc:
                await asyncio.sleep(self.streak.failed(exc))
                continue
            self.streak.succeeded()
            fresh = [i for i in ids if i not in self._handled]
            for execution_id in fresh:
                self._handle(execution_id)
            if ids and not fresh:
                await asyncio.sleep(SETTLE)

    def _handle(self, execution_id: str) -> None:
        cancelled = self.cancel(execution_id)
        if not cancelled:
            log.info("cancel of execution %s asked: it is not running here", execution_id)
        self._handled[execution_id] = cancelled
        while len(self._handled) > REMEMBERED:
            self._handled.popitem(last=False)
