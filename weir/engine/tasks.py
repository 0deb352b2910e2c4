"""Tasks that run an execution already recorded as running (``Execution.begin``).

A task cancelled before its first step never enters its coroutine, so ``Execution.run``
would never record the end: the execution would stay ``running`` and a parent waiting on it
would never hear. The done callback ends such an execution as cancelled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from weir.engine.execution import Execution

T = TypeVar("T")


def execution_task(execution: Execution, work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """A task running ``work``, which runs ``execution``."""
    task = asyncio.get_running_loop().create_task(work)

    def ended(done: asyncio.Task[T]) -> None:
        if done.cancelled() and execution.outcome is None:
            execution.cancel_unstarted()

    task.add_done_callback(ended)
    return task
