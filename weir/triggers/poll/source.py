"""What a polling trigger polls: a source of items (files, messages), each with a key that
names it for good, and what a poll of one looks like."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Item:
    key: str
    """Names the item for good: path+size+mtime, key+ETag, UIDVALIDITY+UID."""
    ref: Any
    """What the source needs to load or finish it (a file's entry, a message's UID)."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Goes to ``$.trigger`` beside the kind."""


@dataclass
class Look:
    items: list[Item]
    """Ready items, oldest first."""
    waiting: bool = False
    """Some items are not ready yet (a file still being written): look again soon."""


class Source(Protocol):
    """One poll is ``look``, then ``load`` for each item claimed, then ``end`` (which closes
    what the poll opened). ``finish`` runs when an item's execution ended."""

    async def look(self) -> Look: ...

    async def load(self, item: Item) -> Any:
        """The item as the execution's ``$.input``; None if it vanished since the look."""
        ...

    async def end(self) -> None: ...

    async def finish(self, item: Item, succeeded: bool) -> None: ...

    def release(self, item: Item) -> None:
        """The item will not start after all (its claim was released): drop what ``load``
        kept for it."""
        ...
