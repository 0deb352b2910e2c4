"""Trying again after failures: a bounded exponential backoff with jitter, and one log line per
streak of failures (when it starts and when it ends) instead of one per attempt."""

from __future__ import annotations

import logging
import random
import time


class Backoff:
    """Delays of ``first``, doubling up to ``cap`` seconds, each drawn from 50-100% of that:
    runners that lost the console together do not come back in step."""

    def __init__(self, first: float = 0.5, cap: float = 30.0) -> None:
        self.first = first
        self.cap = cap
        self.attempt = 0

    def next(self) -> float:
        delay = min(self.cap, self.first * 2**self.attempt)
        self.attempt += 1
        return delay * random.uniform(0.5, 1.0)

    def reset(self) -> None:
        self.attempt = 0


class FailureStreak:
    """Logs the first failure of a streak as a warning (with what the caller adds) and its end
    as one info line saying how long it lasted; failures in between are only counted."""

    def __init__(self, log: logging.Logger, what: str) -> None:
        self.log = log
        self.what = what
        self.failures = 0
        self.since = 0.0
        self.last_error = ""
        self.backoff = Backoff()

    @property
    def failing(self) -> bool:
        return self.failures > 0

    def failed(self, reason: object, consequence: str = "") -> float:
        """Count a failure; the seconds to wait before trying again."""
        self.last_error = str(reason)
        if self.failures == 0:
            self.since = time.monotonic()
            tail = f"; {consequence}" if consequence else ""
            self.log.warning("%s failed: %s%s; trying again with backoff", self.what, reason, tail)
        self.failures += 1
        return self.backoff.next()

    def succeeded(self) -> None:
        if self.failures:
            self.log.info(
                "%s works again, after %d failed attempts over %.0fs",
                self.what,
                self.failures,
                time.monotonic() - self.since,
            )
        self.failures = 0
        self.backoff.reset()
