"""The garbage collector of a process that serves: a runner (`weir serve`) or the console.

What start-up builds (modules, compiled flows, the web application) lives as long as the
process, yet each of CPython's full collections walks all of it again: some 120,000 objects,
15 to 100 ms on the bench machine, a pause in the middle of requests that showed as their p99.
``settle`` collects once and then freezes what is left (``gc.freeze``), so that collections walk
only what came later.

Young objects are collected after ``WEIR_GC_YOUNG`` allocations (default 10,000) instead of
CPython's 700: each young collection walks what requests in flight hold, a few thousand objects
at once on a busy runner, so at 700 the collector walked them over and over and moved them into
older generations, which full collections then walk too. Under load this cut the runner's
collector time about fivefold and its CPU per request by about 5 % (docs/serve.md); garbage in
cycles waits a little longer to be freed (at most that many allocations).
"""

from __future__ import annotations

import gc

from weir.lang.settings import count_from_environment

YOUNG_DEFAULT = 10_000


def young_from_environment() -> int:
    """``$WEIR_GC_YOUNG``, read where the command reads its other settings: a bad value stops
    it before it binds a port (SettingError, exit 2)."""
    return count_from_environment("WEIR_GC_YOUNG", YOUNG_DEFAULT)


def settle(young: int = YOUNG_DEFAULT) -> None:
    """Call once serving, and again after a reload: what the process dropped since the last
    call (a previous flow revision) is collected, and what it keeps is frozen anew; young
    objects are then collected every ``young`` allocations."""
    gc.unfreeze()  # what an earlier call froze may be garbage now
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(young, older, oldest)
