"""How failures travel through the engine: whatever a node raises becomes a ``NodeError``; one
that ends the execution travels as ``ExecutionFailed``, with the node it came from, until the
execution's record is written."""

from __future__ import annotations

import logging
from typing import Any

from weir.flow.model import NodeBase
from weir.lang.errors import NodeError, NodeTimeout
from weir.lang.expressions import ExpressionError

log = logging.getLogger("weir.engine")


class ExecutionFailed(Exception):
    """The execution fails: a node failed with no ``onError``, the flow timed out, or
    ``spec.result`` cannot be evaluated."""

    def __init__(self, error: NodeError, node: NodeBase | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.node = node

    def to_record(self) -> dict[str, Any]:
        return error_record(self.error, self.node)


def error_record(error: NodeError, node: NodeBase | None) -> dict[str, Any]:
    """The error as the execution's record and ``$.error`` show it: which node failed (when
    one did) and the node's error."""
    if node is None:
        return error.to_dict()
    return {"node": node.name, "kind": node.kind, **error.to_dict()}


def as_node_error(exc: BaseException, node: NodeBase) -> NodeError:
    """Every failure of a node as a ``NodeError`` that says whether a retry can help."""
    if isinstance(exc, NodeError):
        return exc
    if isinstance(exc, TimeoutError):
        limit = f" after {node.timeout:g}s" if node.timeout is not None else ""
        return NodeTimeout(f"timed out{limit}")
    if isinstance(exc, ExpressionError):
        return NodeError(str(exc), type="expression")
    if isinstance(exc, ImportError):
        missing = exc.name or str(exc)
        return NodeError(
            f"the {node.kind} node needs the Python package {missing!r}, which is not installed: "
            "install Weir with the extra for this node kind (docs/install.md)",
            type="config",
        )
    log.debug("unexpected error in node %s", node.name, exc_info=exc)
    return NodeError(f"{type(exc).__name__}: {exc}", type="internal")
