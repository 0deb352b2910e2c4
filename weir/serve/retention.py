"""A runner that ships to the console keeps only a short history in its own store (an
emptyDir in a pod, which must not fill): executions shipped and older than
``WEIR_OUTBOX_RETENTION`` seconds (a day by default) are pruned every few minutes. Nothing
not yet shipped is pruned, and nothing still running.

Any runner with a store also sweeps the state node's expired keys every minute."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from weir.lang.settings import seconds_from_environment

log = logging.getLogger("weir.ship")
state_log = logging.getLogger("weir.state")

RETENTION_ENV = "WEIR_OUTBOX_RETENTION"
DEFAULT_RETENTION = 86_400.0
EVERY = 600.0
"""Seconds between prunes."""


def retention_from_environment() -> float:
    return seconds_from_environment(RETENTION_ENV, DEFAULT_RETENTION)


async def prune_shipped(store: Any, target: str, max_age: float, every: float = EVERY) -> None:
    """Prune what was shipped to ``target`` and is older than ``max_age``, now and every
    ``every`` seconds, until cancelled."""
    while True:
        await prune_once(store, target, max_age)
        await asyncio.sleep(every)


async def prune_once(store: Any, target: str, max_age: float) -> int:
    """One round; how many executions were deleted."""
    try:
        pruned: int = await store.prune(max_age=max_age, max_per_flow=None, keep_unshipped=target)
    except Exception as exc:  # the store is busy or away: the next round tries again
        log.warning("could not prune shipped executions from the local store: %s", exc)
        return 0
    if pruned:
        log.info("pruned %d shipped executions older than %.0fs", pruned, max_age)
    return pruned


STATE_SWEEP_EVERY = 60.0
"""Seconds between sweeps of expired state keys."""


async def sweep_state(state: Any, every: float = STATE_SWEEP_EVERY) -> None:
    """Delete expired state-node keys (weir.store.state) now and every ``every`` seconds, until
    cancelled. Reads already treat them as missing: this only gives their rows back."""
    while True:
        try:
            swept: int = await state.sweep()
        except Exception as exc:  # the store is busy or away: the next round tries again
            state_log.warning("could not delete expired state keys: %s", exc)
        else:
            if swept:
                state_log.info("deleted %d expired state keys", swept)
        await asyncio.sleep(every)
