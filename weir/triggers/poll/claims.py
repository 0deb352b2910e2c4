"""Which items a polling trigger started, kept in the state store (``weir_state``) under
``poll:<namespace>/<flow>``: one key per item, never one blob for the trigger, so that no
write loses another's.

An item's mark goes ``claimed`` (by this poller, before its execution exists) → ``done`` (its
execution's ``running`` record is committed). A claim is one insert-if-absent, so of two
pollers only one ever claims an item. A poller that dies between the two leaves ``claimed``:
the next holder of the lease takes such an item again, once the claim is older than a lease (at least once, never skipped). Marks
expire after the trigger's ``remember``.

The lease (key ``lease``) makes one poller per flow across replicas: taken when missing or
expired, renewed only by its holder.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
import time
from dataclasses import dataclass
from typing import Any

from weir.nodes.state_store import StateStore

LEASE_KEY = "lease"
MAX_KEY = 512
"""The longest key the state table keeps; a longer item key is kept as its digest."""


def new_holder() -> str:
    """This poller's name: the pod (host), the process and a random part, so that a restarted
    process never mistakes the claims of the one before for its own."""
    return f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(4)}"


def state_key(item_key: str) -> str:
    if len(item_key) <= MAX_KEY and item_key != LEASE_KEY:
        return item_key
    return "sha256:" + hashlib.sha256(item_key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Mark:
    state: str
    """claimed | done | skipped"""
    holder: str | None = None
    execution: str | None = None
    at: float = 0.0
    """When it was set (seconds since the epoch)."""


class Claims:
    def __init__(
        self, store: StateStore, namespace: str, *, remember: float, lease: float, holder: str
    ) -> None:
        self.store = store
        self.namespace = namespace
        self.remember = remember
        self.lease = lease
        self.holder = holder

    async def hold_lease(self) -> bool:
        """Take or renew the lease; whether this poller holds it now."""
        return await self.store.add(
            self.namespace, LEASE_KEY, json.dumps(self.holder), self.lease, renew=True
        )

    async def release_lease(self) -> None:
        """Give the lease up (on shutdown), if it is still ours, so a successor need not wait."""
        found = await self.store.get(self.namespace, LEASE_KEY)
        if found is not None and json.loads(found.value) == self.holder:
            await self.store.delete(self.namespace, LEASE_KEY)

    async def marks(self, item_keys: list[str]) -> dict[str, Mark]:
        """The marks of these items, by item key; an item never seen has none."""
        keys = {state_key(key): key for key in item_keys}
        found = await self.store.get_many(self.namespace, list(keys))
        marks: dict[str, Mark] = {}
        for key, entry in found.items():
            value = json.loads(entry.value)
            marks[keys[key]] = Mark(
                value["state"], value.get("holder"), value.get("execution"), value.get("at", 0.0)
            )
        return marks

    def orphaned(self, mark: Mark) -> bool:
        """A claim of another poller older than a lease: that poller is gone (or has lost the
        lease to this one), its item must be taken again."""
        return (
            mark.state == "claimed"
            and mark.holder != self.holder
            and time.time() - mark.at > self.lease
        )

    async def claim(self, item_key: str, mark: Mark | None) -> bool:
        """Claim a new item, or take over ``mark``, a claim whose poller is gone (this one
        holds the lease now); whether this poller has it."""
        value = self._value("claimed", holder=self.holder)
        if mark is None:
            return await self.store.add(self.namespace, state_key(item_key), value, self.remember)
        await self.store.set(self.namespace, state_key(item_key), value, self.remember)
        return True

    async def done(self, item_key: str, execution_id: str) -> None:
        value = self._value("done", execution=execution_id)
        await self.store.set(self.namespace, state_key(item_key), value, self.remember)

    async def skip(self, item_key: str, reason: str) -> None:
        """Never start this item (it cannot be read as an input); kept like a started one."""
        value = self._value("skipped", reason=reason)
        await self.store.set(self.namespace, state_key(item_key), value, self.remember)

    async def release(self, item_key: str) -> None:
        """Forget a claim whose execution could not start: the next poll tries again."""
        await self.store.delete(self.namespace, state_key(item_key))

    @staticmethod
    def _value(state: str, **fields: Any) -> str:
        return json.dumps({"state": state, "at": time.time(), **fields})
