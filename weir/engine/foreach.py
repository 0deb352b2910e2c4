"""``forEach``: a node run once per item, at most ``concurrency`` at a time, outputs in item
order; the first item that fails for good fails the node and cancels the others.

With ``batchSize`` the items are cut into chunks of that many (the last may be shorter): each
chunk is one run, with the chunk (a list) as ``item`` and its number as ``index``; concurrency
counts chunks, and the output is the chunks' outputs in order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from weir.engine.failures import as_node_error
from weir.flow.model import NodeBase
from weir.lang.errors import NodeError
from weir.lang.expressions import ExpressionError

RunItem = Callable[[Mapping[str, Any]], Awaitable[Any]]
"""Runs the node's attempts in a scope that holds ``item`` and ``index``."""


async def run_for_each(node: NodeBase, scope: Mapping[str, Any], run_item: RunItem) -> list[Any]:
    assert node.forEach is not None
    items = _items(node, scope)
    size = node.forEach.batchSize
    if size is not None:
        items = [items[start : start + size] for start in range(0, len(items), size)]
    what = "item" if size is None else "batch"
    limit = asyncio.Semaphore(node.forEach.concurrency)

    async def one(index: int, item: Any) -> Any:
        async with limit:
            try:
                return await run_item({**scope, "item": item, "index": index})
            except NodeError as exc:
                exc.details.setdefault("index", index)
                exc.reword(f"{what} {index}: {exc.message}")
                raise

    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(one(i, item)) for i, item in enumerate(items)]
    except ExceptionGroup as group_error:  # the first failure cancelled the other items
        first = group_error.exceptions[0]
        raise as_node_error(first, node) from None
    return [task.result() for task in tasks]


def _items(node: NodeBase, scope: Mapping[str, Any]) -> list[Any]:
    assert node.forEach is not None
    try:
        items = node.forEach.items.evaluate(scope)
    except ExpressionError as exc:
        raise NodeError(f"forEach.items: {exc}", type="expression") from None
    if not isinstance(items, list):
        raise NodeError(f"forEach.items must be a list, got {type(items).__name__}", type="config")
    return items
