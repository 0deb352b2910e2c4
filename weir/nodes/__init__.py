"""The node registry: every built-in node kind, in alphabetical order.

A node kind is one module here with a typed config model, a ``run`` coroutine and a ``KIND``
entry; adding a kind is adding its module and its name below. A kind's module is imported the
first time the kind is looked up, so validating a flow imports the kinds it uses, not all.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from importlib import import_module

from weir.nodes.kind import NodeKind

KIND_NAMES = (
    "code",
    "extension",
    "file",
    "http",
    "llm",
    "log",
    "mail",
    "mongodb",
    "rabbitmq",
    "s3",
    "sftp",
    "sleep",
    "smb",
    "sql",
    "state",
    "subflow",
    "transform",
    "wait",
)


class NodeKinds(Mapping[str, NodeKind]):
    """Kind name to NodeKind, each module imported when its kind is first looked up; names
    and membership never import (iterating ``items()`` or ``values()`` imports them all)."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self._names = names
        self._known = frozenset(names)
        self._loaded: dict[str, NodeKind] = {}  # the engine looks a kind up for every node run

    def __getitem__(self, name: str) -> NodeKind:
        kind = self._loaded.get(name)
        if kind is None:
            if name not in self._known:
                raise KeyError(name)
            kind = self._loaded[name] = import_module(f"{__name__}.{name}").KIND
        return kind

    def __contains__(self, name: object) -> bool:
        return name in self._known

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


NODE_KINDS = NodeKinds(KIND_NAMES)
