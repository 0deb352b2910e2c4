"""Whether and when a failed attempt is tried again, from a node's ``retry`` policy.

A server's own wait (an HTTP 429 or 503 ``Retry-After``, carried as the error's
``retry_after``) is honoured: the next attempt waits at least that long. ``maxDelay`` bounds it
as it bounds every delay: when the server asks for longer, the node is not retried (waiting
less would only be refused again) and its error says how long the server asked for.

A call its circuit breaker refused (``circuitOpen``, weir.nodes.breaker) is retried only when
``retryOn`` names ``circuitOpen`` itself: neither ``retryable`` nor ``any`` covers it, since
retrying at once would only be refused again while the circuit is open, and the point of the
circuit is to fail fast. Named, the retry waits until the circuit lets a probe through (the
error's ``retry_after``), within ``maxDelay`` like a server's wait.
"""

from __future__ import annotations

import random

from weir.flow.model import RetryPolicy
from weir.lang.errors import NodeError
from weir.nodes.breaker import CIRCUIT_OPEN

JITTER = 0.2


class RetryDecider:
    def __init__(self, policy: RetryPolicy | None) -> None:
        self.policy = policy

    def should_retry(self, error: NodeError) -> bool:
        assert self.policy is not None
        wanted = self.policy.retryOn
        if error.type in wanted:
            return True
        return error.type != CIRCUIT_OPEN and (
            "any" in wanted or ("retryable" in wanted and error.retryable)
        )

    def delay_before_next(self, attempt: int, error: NodeError) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``, or None when there is none (a
        server's wait longer than ``maxDelay`` included: the error then says so)."""
        policy = self.policy
        if policy is None or attempt >= policy.maxAttempts or not self.should_retry(error):
            return None
        if policy.backoff == "fixed":
            delay = policy.initialDelay
        else:
            delay = policy.initialDelay * policy.multiplier ** (attempt - 1)
        if policy.jitter:
            delay *= random.uniform(1 - JITTER, 1 + JITTER)
        delay = min(delay, policy.maxDelay)
        asked = error.retry_after
        if asked is None:
            return delay
        if asked > policy.maxDelay:
            who = "the circuit breaker" if error.type == CIRCUIT_OPEN else "the server"
            error.reword(
                f"{error.message} ({who} asked to wait {asked:g}s before trying again, "
                f"longer than retry.maxDelay {policy.maxDelay:g}s: not retried)"
            )
            return None
        return max(delay, asked)
