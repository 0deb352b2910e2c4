"""Whether and when a failed attempt is tried again, from a node's ``retry`` policy."""

from __future__ import annotations

import random

from weir.flow.model import RetryPolicy
from weir.lang.errors import NodeError

JITTER = 0.2


class RetryDecider:
    def __init__(self, policy: RetryPolicy | None) -> None:
        self.policy = policy

    def should_retry(self, error: NodeError) -> bool:
        assert self.policy is not None
        wanted = self.policy.retryOn
        return (
            "any" in wanted or ("retryable" in wanted and error.retryable) or error.type in wanted
        )

    def delay_before_next(self, attempt: int, error: NodeError) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``, or None when there is none."""
        policy = self.policy
        if policy is None or attempt >= policy.maxAttempts or not self.should_retry(error):
            return None
        if policy.backoff == "fixed":
            delay = policy.initialDelay
        else:
            delay = policy.initialDelay * policy.multiplier ** (attempt - 1)
        if policy.jitter:
            delay *= random.uniform(1 - JITTER, 1 + JITTER)
        return min(delay, policy.maxDelay)
