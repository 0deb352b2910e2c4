"""A cancel spreads down, never up: cancelling an execution that waits on subflow children
cancels those children too (n8n #19865: children outlived a cancelled parent), each the way
the console cancels any execution — a parked one at once with its waits, a running one
through the backend that runs it or its runner's long poll — and so on down.

The children are found before the parent is cancelled (that closes its waits): its open
``child`` waits in this store (a parent run by the console) and its waiting subflow node
runs (a parent shipped by a runner: the node run's output names the child).
"""

from __future__ import annotations

import logging
from typing import Any

from weir.store.records import ExecutionRecord, Status
from weir.store.wait_writes import OPEN

log = logging.getLogger("weir.console")

MAX_DEPTH = 10


async def waited_children(console: Any, record: ExecutionRecord) -> list[str]:
    """The ids of the child executions ``record`` waits on."""
    found: list[str] = []
    for wait in await console.store.waits().of_execution(record.id):
        child = wait.details.get("childExecutionId")
        if wait.kind == "child" and wait.state in OPEN and isinstance(child, str):
            found.append(child)
    detailed = await console.store.get_execution(record.id)
    for node in detailed[1] if detailed else []:
        child = (node.output or {}).get("childExecutionId") if node.kind == "subflow" else None
        if node.status == Status.WAITING and isinstance(child, str) and child not in found:
            found.append(child)
    return found


async def cancel_children(console: Any, children: list[str], depth: int = 1) -> None:
    """Cancel each child (and the children it waits on); one already over is left alone."""
    if depth > MAX_DEPTH:
        return
    for child_id in children:
        found = await console.store.get_execution(child_id, payloads=False)
        if found is None:
            continue
        child = found[0]
        below = await waited_children(console, child)
        if child.status == Status.WAITING:
            if not await console.store.waits().cancel_waits(child.id, by="parent cancelled"):
                continue
        elif child.status == Status.RUNNING:
            if not await console.runs.cancel(child):
                await console.store.request_cancel(child.id)
        else:
            continue
        log.info("cancelling child execution %s: its parent was cancelled", child.id)
        await cancel_children(console, below, depth + 1)
    console.hub.wake()
