"""What the state node keeps its keys in: a key-value store with expiry, which the execution
store implements in its own database (weir.store.state), or Redis by URL
(weir.store.state_redis). Defined here, below the store, so that nodes use it without
importing the store.

Values travel as JSON text: the node encodes and decodes them, the store only keeps them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class StateEntry:
    value: str
    """JSON text."""
    expires_at: float | None
    """Seconds since the epoch; None: never."""


class NotANumber(Exception):
    """``increment`` found a value that is not a number (a live one: an expired value counts
    as absent)."""

    def __init__(self, value: str) -> None:
        super().__init__(value)
        self.value = value
        """The value found, as JSON text."""


class StateStore(Protocol):
    """Keys live in a namespace (``flow:<ns>/<flow>`` or ``shared:<ns>``); an expired key reads
    as missing and is deleted later by a sweep."""

    namespace: str
    """The Kubernetes namespace whose flows use this store; '' outside a cluster."""

    async def get(self, namespace: str, key: str) -> StateEntry | None:
        """The key's live entry; None when it is missing or expired."""

    async def set(self, namespace: str, key: str, value: str, ttl: float | None) -> StateEntry:
        """Write the value; it expires after ``ttl`` seconds, never if None (a SET without a
        TTL clears the one the key had, as in Redis)."""

    async def increment(
        self, namespace: str, key: str, by: int | float, ttl: float | None
    ) -> StateEntry:
        """Add ``by`` to the number at ``key`` in one atomic statement. A missing or expired key
        starts from 0 and expires after ``ttl`` (if given); a live key keeps its expiry.
        NotANumber if the live value is not a number."""

    async def delete(self, namespace: str, key: str) -> bool:
        """Remove the key; whether a live entry was there."""

    async def add(
        self, namespace: str, key: str, value: str, ttl: float | None, *, renew: bool = False
    ) -> bool:
        """Write the value only if the key is missing or expired (``renew``: or holds this very
        value, whose expiry is then pushed out), in one statement; whether it wrote. What a
        claim or a lease is made of: of any number of runners adding one key, one wins."""

    async def get_many(self, namespace: str, keys: list[str]) -> dict[str, StateEntry]:
        """The live entries among ``keys``, by key, in one query."""
