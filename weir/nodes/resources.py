"""Long-lived clients shared by executions: one HTTP client, one SQL pool per URL, ..."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class Resources:
    """A keyed cache of clients, closed together when the engine shuts down."""

    def __init__(self) -> None:
        self._items: dict[Any, Any] = {}
        self._closers: list[Callable[[], Any]] = []
        self._lock = asyncio.Lock()

    def get(self, key: Any, factory: Callable[[], T], close: Callable[[T], Any] | None = None) -> T:
        try:
            item: T = self._items[key]
            return item
        except KeyError:
            pass
        item = factory()
        self._items[key] = item
        if close is not None:
            self._closers.append(lambda: close(item))
        return item

    async def aclose(self) -> None:
        closers, self._closers = self._closers[::-1], []
        self._items.clear()
        for closer in closers:
            result = closer()
            if inspect.isawaitable(result):
                await result
