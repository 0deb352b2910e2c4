"""Which nodes run next (docs/flows.md):

* A node's transitions: ``next`` on success; ``when`` branches (CEL, first match) on success,
  else ``otherwise``; ``onError`` when it failed after its retries. Lists fan out concurrently.
* A node with several predecessors (a join) runs once every predecessor that was activated has
  finished; a predecessor whose branch was not taken is known to be dead and not waited for.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from weir.flow.graph import Graph
from weir.flow.model import NodeBase
from weir.lang.errors import NodeError
from weir.lang.expressions import ExpressionError


class GraphWalk:
    """The join state of one execution: which predecessors each node still waits for."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.pending = {name: set(preds) for name, preds in graph.predecessors.items()}
        self.activated: set[str] = set()

    def begin(self, start: str, recorded: Collection[str]) -> list[str]:
        """The first ready nodes. Replaying from ``start``, the nodes it cannot reach count as
        they ended originally: one in ``recorded`` (it left an output) finished, and its edges
        into the replayed part are taken."""
        ready = [start]
        self.activated.add(start)
        if start == self.graph.start:
            return ready
        rerun = downstream(self.graph, start)
        for name in self.graph.nodes:
            if name in rerun:
                continue
            for successor in self.graph.successors[name]:
                if successor in rerun and successor != start:
                    self._resolve_edge(successor, name, name in recorded, ready)
        self.pending[start].clear()
        return ready

    def finished(self, node: str, taken: Collection[str], ready: list[str]) -> None:
        """``node`` is done and took the transitions to ``taken``: add to ``ready`` the
        successors whose joins are now complete."""
        for successor in self.graph.successors[node]:
            self._resolve_edge(successor, node, successor in taken, ready)

    def _resolve_edge(self, target: str, source: str, taken: bool, ready: list[str]) -> None:
        pending = self.pending[target]
        pending.discard(source)
        if taken:
            self.activated.add(target)
        if pending:
            return
        if target in self.activated:
            ready.append(target)
        else:  # every predecessor is done and none chose it: the whole branch is dead
            for successor in self.graph.successors[target]:
                self._resolve_edge(successor, target, False, ready)


def downstream(graph: Graph, start: str) -> set[str]:
    """``start`` and every node it can lead to: the part a replay from it runs again."""
    found, stack = {start}, [start]
    while stack:
        for successor in graph.successors[stack.pop()]:
            if successor not in found:
                found.add(successor)
                stack.append(successor)
    return found


def success_targets(node: NodeBase, output: Any, scope: Mapping[str, Any]) -> list[str]:
    """Where a node that succeeded with ``output`` goes: ``next``, plus the first ``when``
    branch whose condition holds, else ``otherwise``."""
    if not node.when:
        return node.next
    scope = {**scope, "output": output}
    for i, branch in enumerate(node.when):
        try:
            matched = branch.condition.evaluate(scope)
        except ExpressionError as exc:
            raise NodeError(f"when[{i}]: {exc}", type="expression") from None
        if not isinstance(matched, bool):
            raise NodeError(
                f"when[{i}]: condition {branch.condition.source!r} gave "
                f"{type(matched).__name__}, not a boolean",
                type="expression",
            )
        if matched:
            return [*node.next, *branch.next]
    return [*node.next, *node.otherwise]
