"""How the `subflow` node starts a child flow without knowing where flows live.

A runner installs a ``ChildFlows`` in the engine's resources (key ``CHILD_FLOWS``): locally
one that finds flows by name in a directory and runs them on the same engine
(weir.engine.children), in a cluster one that asks the console to start them
(weir.serve.subflows). The node only builds the call and parks on the child's wait.

``child_resolution`` is the one place that says what a child's end means to its parent: the
result of the parent's ``child`` wait (``{"output": …}`` or ``{"error": …}``, as
weir.engine.resume reads it), whoever learns of the end (a listener on the same engine, a
poll of the console, an inline run without a store).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

CHILD_FLOWS = "weir.child-flows"
"""The key of the installed ChildFlows in ``NodeContext.resources``."""
MAX_DEPTH = 10
"""How deep subflows may nest: a flow calling itself stops here with a clear error."""


@dataclass(frozen=True)
class ChildCall:
    flow: str
    namespace: str | None
    input: Any
    parent: dict[str, Any]
    """``executionId``, ``node``, ``flow``, ``depth`` and, when the parent waits on a child
    sharing its store, ``waitId``: the child's trigger meta ``parent`` ($.trigger.parent)."""
    timeout: float | None = None


class ChildFlows(Protocol):
    durable: bool
    """False without a store: ``run_inline`` runs the child to its end in the node."""
    remote: bool
    """True when the child runs elsewhere (another store): its end is polled for."""

    async def start(self, call: ChildCall) -> str:
        """Start the child; its execution id. Raises ConfigError if there is no such flow."""
        ...

    async def run_inline(self, call: ChildCall) -> dict[str, Any]:
        """Run the child here to its end (no store); its ``child_resolution``."""
        ...


def child_resolution(
    child_id: str, flow: str, status: str, result: Any, error: dict[str, Any] | None
) -> dict[str, Any]:
    """What the parent's wait resolves to when the child ended with ``status``."""
    if status == "succeeded":
        output = {"executionId": child_id, "flow": flow, "status": status, "result": result}
        return {"output": output}
    about = {"childExecutionId": child_id, "childFlow": flow, "childError": error}
    if status == "cancelled":
        message = f"child flow {flow!r} (execution {child_id}) was cancelled"
        return {"error": {"type": "cancelled", "message": message, **about}}
    reason = (error or {}).get("message") or status
    where = f" at node {error['node']!r}" if error and error.get("node") else ""
    message = f"child flow {flow!r} (execution {child_id}) failed{where}: {reason}"
    return {"error": {"type": "subflow", "message": message, **about}}
