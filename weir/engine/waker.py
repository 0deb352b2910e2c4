"""The waker: resumes parked executions whose wait came due or was resolved.

Every runner process (`weir serve`, `weir console` for the flows it runs locally) has one. It
asks the store every ``poll`` seconds for the due waits of its flows — and sooner when one it
saw is due before the next poll — claims each (one runner wins, weir.store.waits) and hands
the claimed wait to ``resume``, in a task of its own. A parked execution costs nothing
meanwhile: no task, no timer, only its rows; the waker is one task per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from weir.store.waits import PENDING, SqlWaits, Wait

log = logging.getLogger("weir.waker")

POLL = 1.0
"""Seconds between two looks at the store."""
STOP_WAIT = 10.0
"""How long stopping waits for a look under way to end before cancelling it."""

Resume = Callable[[Wait], Awaitable[Any]]
Flows = Callable[[], Sequence[str] | Awaitable[Sequence[str] | None] | None]


class Waker:
    def __init__(
        self,
        waits: SqlWaits,
        resume: Resume,
        *,
        flows: Flows = lambda: None,
        counted: Callable[[int], None] | None = None,
        poll: float = POLL,
    ) -> None:
        self.waits = waits
        self.resume = resume
        self.flows = flows
        """The flows whose executions it resumes (None: any in its namespace)."""
        self.counted = counted
        """Told how many executions of those flows wait, at each look."""
        self.poll = poll
        self.resumed = 0
        self._poke = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._resuming: set[asyncio.Task[Any]] = set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="weir-waker")

    def poke(self) -> None:
        """Look now (a wait was just resolved in this process)."""
        self._poke.set()

    async def stop(self) -> None:
        """Claim nothing more; resumes under way go on (their service drains them).

        The loop is asked to end between claims rather than cancelled: a cancel landing while a
        claim commits would leave a wait claimed by this runner and never resumed, until
        another runner took it back after this one was gone."""
        if self._task is not None:
            self._stopping = True
            self._poke.set()
            # A store that does not answer: the look is given up (cancelled) after a while.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._task, STOP_WAIT)
            self._task = None
        await asyncio.sleep(0)  # resumes just created enter their service's count

    async def _run(self) -> None:
        while not self._stopping:
            pause = self.poll
            try:
                pause = await self.look()
            except Exception as exc:  # the store may be away for a while: look again later
                log.warning("looking for due waits failed: %s", exc)
            self._poke.clear()
            if self._stopping:
                break
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(pause):
                    await self._poke.wait()

    async def look(self) -> float:
        """Claim and resume what is due; how long until the next look."""
        flows = self.flows()
        if inspect.isawaitable(flows):
            flows = await flows
        found = await self.waits.due(flows=flows, within=self.poll)
        now = time.time()
        soonest = now + self.poll
        for wait in found:
            if self._stopping:
                break
            if wait.state == PENDING and wait.due_at is not None and wait.due_at > now:
                soonest = min(soonest, wait.due_at)
                continue
            claimed = await self.waits.claim(wait.id, wait.execution_id)
            if claimed is not None:
                self._spawn(claimed)
        if self.counted is not None:
            self.counted(await self.waits.count_waiting(flows))
        return max(0.0, soonest - time.time())

    def _spawn(self, wait: Wait) -> None:
        self.resumed += 1
        task = asyncio.get_running_loop().create_task(self._resume(wait))
        self._resuming.add(task)
        task.add_done_callback(self._resuming.discard)

    async def _resume(self, wait: Wait) -> None:
        try:
            await self.resume(wait)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error(
                "resuming execution %s (wait %s) failed: %s",
                wait.execution_id,
                wait.id,
                exc,
                exc_info=exc,
            )
            with contextlib.suppress(Exception):
                await self.waits.release(wait)
