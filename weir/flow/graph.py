"""The node graph: checked once at load time, then used by the engine as plain lookups."""

from __future__ import annotations

import difflib
import graphlib
from collections.abc import Iterator
from dataclasses import dataclass

from weir.flow.issues import Issue, Loc
from weir.flow.model import Flow, NodeBase


@dataclass(frozen=True)
class Graph:
    start: str
    nodes: dict[str, NodeBase]
    successors: dict[str, tuple[str, ...]]
    """Every node each node can hand over to, by any transition."""
    predecessors: dict[str, frozenset[str]]


def _node_loc(index: int, *rest: str | int) -> Loc:
    return ("spec", "nodes", index, *rest)


def check_graph(flow: Flow) -> tuple[Graph | None, list[Issue]]:
    """Build the graph, or say what is wrong with it: names, targets, cycles, reachability."""
    nodes, index_of, issues = _named_nodes(flow)
    successors = _successors(nodes, index_of, issues)
    start = flow.start
    if start not in nodes:
        issues.append(
            Issue(f"unknown start node {start!r}{_suggest(start, nodes)}", ("spec", "start"))
        )
    if issues:
        return None, issues

    predecessors: dict[str, set[str]] = {name: set() for name in nodes}
    for name, targets in successors.items():
        for target in targets:
            predecessors[target].add(name)
    cycle = _find_cycle(predecessors, index_of)
    if cycle:
        loc = _node_loc(index_of[cycle[0]])
        issues.append(Issue(f"transitions form a cycle: {' -> '.join(cycle)}", loc))

    reachable = set(_walk(start, successors))
    for name in nodes:
        if name not in reachable:
            issues.append(
                Issue(
                    f"node {name!r} is unreachable: no transition leads to it from {start!r}",
                    _node_loc(index_of[name]),
                )
            )
    if issues:
        return None, issues

    graph = Graph(
        start=start,
        nodes=nodes,
        successors={k: tuple(v) for k, v in successors.items()},
        predecessors={k: frozenset(v) for k, v in predecessors.items()},
    )
    return graph, []


def _named_nodes(flow: Flow) -> tuple[dict[str, NodeBase], dict[str, int], list[Issue]]:
    """The nodes by name with their places in the file; a repeated name is an issue."""
    issues: list[Issue] = []
    nodes: dict[str, NodeBase] = {}
    index_of: dict[str, int] = {}
    for i, node in enumerate(flow.spec.nodes):
        if node.name in nodes:
            first = index_of[node.name]
            issues.append(
                Issue(
                    f"duplicate node name {node.name!r} (also node #{first + 1})",
                    _node_loc(i, "name"),
                )
            )
            continue
        nodes[node.name] = node
        index_of[node.name] = i
    return nodes, index_of, issues


def _successors(
    nodes: dict[str, NodeBase], index_of: dict[str, int], issues: list[Issue]
) -> dict[str, list[str]]:
    """Each node's transition targets in order; unknown targets are added to ``issues``."""
    successors: dict[str, list[str]] = {name: [] for name in nodes}
    for name, node in nodes.items():
        i = index_of[name]
        if node.otherwise and not node.when:
            issues.append(
                Issue(
                    "`otherwise` needs `when` conditions to be the otherwise of",
                    _node_loc(i, "otherwise"),
                )
            )
        for field, target in [*node.transitions(), *_config_transitions(node)]:
            if target not in nodes:
                loc = _node_loc(i, *(int(p) if p.isdigit() else p for p in field.split(".")))
                issues.append(
                    Issue(f"unknown target node {target!r}{_suggest(target, nodes)}", loc)
                )
            elif target not in successors[name]:
                successors[name].append(target)
    return successors


def _config_transitions(node: NodeBase) -> list[tuple[str, str]]:
    """Edges a kind's config names (a wait's ``onTimeout``): a config model that has them
    lists them with a ``transitions()`` method, each with its field as written."""
    listed = getattr(node.config, "transitions", None)
    return list(listed()) if callable(listed) else []


def _suggest(name: str, known: dict[str, NodeBase]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else f" (nodes: {', '.join(known)})"


def _walk(start: str, successors: dict[str, list[str]]) -> Iterator[str]:
    seen, stack = {start}, [start]
    while stack:
        name = stack.pop()
        yield name
        for nxt in successors[name]:
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)


def _find_cycle(predecessors: dict[str, set[str]], index_of: dict[str, int]) -> list[str] | None:
    """One cycle as a path along the transitions that ends where it starts, from the node
    declared first in it; or None."""
    try:
        graphlib.TopologicalSorter(predecessors).prepare()
    except graphlib.CycleError as error:
        cycle: list[str] = error.args[1][:-1]  # graphlib repeats the first node at the end
        first = min(range(len(cycle)), key=lambda i: index_of[cycle[i]])
        cycle = cycle[first:] + cycle[:first]
        return [*cycle, cycle[0]]
    return None
