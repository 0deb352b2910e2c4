"""`subflow`: run another flow by name with mapped input, and wait for its result (the
default: the execution parks durably on a ``child`` wait that the child's end resolves) or
fire and forget (the output is the child's execution id at once). docs/nodes/subflow.md.

The child names its parent in ``$.trigger.parent`` (executionId, node, flow, depth); the
parent's waiting node run shows the child's id (``childExecutionId``). A failed child fails
the node (type ``subflow``, the child's error and id inside), a cancelled one with type
``cancelled``, a child that outlives ``timeout`` with type ``timeout``.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import Field

from weir.lang.durations import Duration
from weir.lang.errors import ConfigError, NodeError
from weir.lang.expressions import Value
from weir.lang.types import Strict
from weir.nodes.child_flows import CHILD_FLOWS, MAX_DEPTH, ChildCall, ChildFlows
from weir.nodes.context import NodeContext
from weir.nodes.kind import NodeKind
from weir.nodes.suspend import Suspend, WaitRequest

NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,251}[a-z0-9])?$"


class SubflowConfig(Strict):
    flow: str = Field(pattern=NAME_PATTERN, description="The child flow's name (metadata.name).")
    input: Value | None = Field(
        None,
        description="The child's input ($.input there): any value, its strings may be "
        "expressions; the parent's own input ($.input) by default.",
    )
    wait: bool = Field(
        True,
        description="true: park until the child ends and output its result; false: start it "
        "and go on at once with its execution id.",
    )
    timeout: Duration | None = Field(
        None, description="With wait: fail with type timeout if the child has not ended by then."
    )
    namespace: str | None = Field(
        None,
        max_length=63,
        description="In a cluster: the child Flow's namespace (the runner's by default).",
    )


async def run(config: SubflowConfig, ctx: NodeContext) -> dict[str, Any]:
    children = _child_flows(ctx)
    depth = _depth(ctx)
    value = ctx.eval(config.input) if config.input is not None else ctx.scope.get("input")
    ctx.input.setdefault("input", value)
    parent: dict[str, Any] = {
        "executionId": ctx.execution_id,
        "node": ctx.node,
        "flow": ctx.flow_name,
        "depth": depth,
    }
    call = ChildCall(config.flow, config.namespace, value, parent, config.timeout)
    if not config.wait:
        return {"executionId": await children.start(call), "flow": config.flow}
    if not children.durable:
        return _ended(await children.run_inline(call))
    due = None if config.timeout is None else time.time() + config.timeout
    wait = WaitRequest("child", due_at=due)
    if not children.remote:
        parent["waitId"] = wait.id  # the child resolves it in its own final transaction
    child_id = await children.start(call)
    wait.details = {
        "childExecutionId": child_id,
        "flow": config.flow,
        "namespace": config.namespace,
        "remote": children.remote,
    }
    wait.public = {"childExecutionId": child_id, "childFlow": config.flow}
    raise Suspend(wait)


def _child_flows(ctx: NodeContext) -> ChildFlows:
    def missing() -> ChildFlows:
        raise ConfigError(
            "subflow: this runner cannot start child flows (run it with weir run, weir serve "
            "or weir console)"
        )

    return ctx.resources.get(CHILD_FLOWS, missing)


def _depth(ctx: NodeContext) -> int:
    trigger = ctx.scope.get("trigger")
    parent = trigger.get("parent") if isinstance(trigger, dict) else None
    depth = (parent.get("depth") if isinstance(parent, dict) else 0) or 0
    if not isinstance(depth, int) or depth + 1 > MAX_DEPTH:
        raise ConfigError(
            f"subflow: calls nest deeper than {MAX_DEPTH} flows (does flow "
            f"{ctx.flow_name!r} call itself?)"
        )
    return depth + 1


def _ended(resolution: dict[str, Any]) -> dict[str, Any]:
    """The node's output, or the NodeError a child's failure becomes."""
    error = resolution.get("error")
    if error is None:
        output: dict[str, Any] = resolution["output"]
        return output
    details = {k: v for k, v in error.items() if k not in ("type", "message")}
    raise NodeError(error["message"], type=error["type"], details=details)


KIND = NodeKind(
    "subflow",
    SubflowConfig,
    run,
    "Run another flow by name with mapped input; wait for its result (durably) or fire and forget.",
)
