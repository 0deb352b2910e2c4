"""The compiled-value contract every expression form implements, and the constant form."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

ROOT_VARIABLES = (
    "input",
    "trigger",
    "nodes",
    "flow",
    "execution",
    "item",
    "index",
    "error",
    "output",
    "acc",
    "result",
)
"""Names an expression can read; which are bound depends on where it is evaluated."""

MAX_EXPRESSION_LENGTH = 10_000
"""Characters in one CEL expression or JSONPath."""


class ExpressionError(Exception):
    """An expression failed while being evaluated (missing key, type error in CEL...)."""


class Expr:
    """A compiled dynamic value. ``label`` names the config field it came from, for records."""

    source: Any
    is_constant = False
    label = "value"

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        raise NotImplementedError

    def node_refs(self) -> Iterator[str]:
        """Names of the nodes whose output this expression reads through ``$.nodes.NAME``."""
        return iter(())

    def roots(self) -> frozenset[str]:
        """The root variables (``input``, ``nodes``, ``error`` …) this expression may read."""
        return frozenset()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.source!r})"


class Literal(Expr):
    is_constant = True

    def __init__(self, value: Any, source: Any = None) -> None:
        self.value = value
        self.source = value if source is None else source

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        return self.value


def shown(source: str, limit: int = 80) -> str:
    """An expression quoted for a message, cut short when long."""
    if len(source) <= limit:
        return repr(source)
    return repr(source[:limit]) + f" (+{len(source) - limit:,} characters)"
