"""``$.`` references: JSONPath into the execution scope."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from weir.lang.expressions.diagnosis import missing_step
from weir.lang.expressions.expr import (
    MAX_EXPRESSION_LENGTH,
    ROOT_VARIABLES,
    Expr,
    ExpressionError,
    shown,
)


class JsonPath(Expr):
    """A JSONPath reference; singular paths take a fast direct walk instead of jsonpath-ng."""

    def __init__(self, source: str) -> None:
        # Imported here: building jsonpath-ng's parser tables costs more than the rest of
        # `weir --help`, and many flows have no JSONPath at all.
        from jsonpath_ng import Fields
        from jsonpath_ng.ext import parse as parse_jsonpath

        self.source = source
        if len(source) > MAX_EXPRESSION_LENGTH:
            raise ValueError(
                f"JSONPath {shown(source)} is {len(source):,} characters long; "
                f"the limit is {MAX_EXPRESSION_LENGTH:,}"
            )
        try:
            self._parsed = parse_jsonpath(source)
        except Exception as exc:  # the lexer's and parser's errors, and RecursionError
            reason = "it nests too deeply" if isinstance(exc, RecursionError) else exc
            raise ValueError(f"invalid JSONPath {shown(source)}: {reason}") from None
        steps = _flatten(self._parsed)
        self._keys: tuple[str | int, ...] | None = _singular_keys(steps)
        first = steps[1] if len(steps) > 1 else None
        self._root: str | None = None  # None: the path may read any root (`$`, `$.*`)
        if isinstance(first, Fields) and len(first.fields) == 1:
            root = self._root = first.fields[0]
            if root not in ROOT_VARIABLES:
                raise ValueError(
                    f"invalid reference {shown(source)}: unknown root {root!r}, "
                    f"use one of {', '.join('$.' + r for r in ROOT_VARIABLES)}"
                )
        self._node = None
        if isinstance(first, Fields) and first.fields == ("nodes",) and len(steps) > 2:
            second = steps[2]
            if isinstance(second, Fields) and len(second.fields) == 1:
                self._node = second.fields[0]

    def node_refs(self) -> Iterator[str]:
        if self._node is not None:
            yield self._node

    def roots(self) -> frozenset[str]:
        return frozenset(ROOT_VARIABLES) if self._root is None else frozenset((self._root,))

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        if self._keys is None:
            return [match.value for match in self._parsed.find(scope)]
        value: Any = scope
        for key in self._keys:
            try:
                value = value[key]
            except (KeyError, IndexError, TypeError):
                why = missing_step(scope, self._keys)
                raise ExpressionError(
                    f"reference {self.source} matched nothing" + (f": {why}" if why else "")
                ) from None
        return value


def _flatten(path: Any) -> list[Any]:
    """The steps of a parsed JSONPath, left to right (iteratively: paths can be long)."""
    from jsonpath_ng import Child

    steps: list[Any] = []
    pending = [path]
    while pending:
        current = pending.pop()
        if isinstance(current, Child):
            pending += [current.right, current.left]
        else:
            steps.append(current)
    return steps


def _singular_keys(steps: list[Any]) -> tuple[str | int, ...] | None:
    from jsonpath_ng import Fields, Index, Root

    if not steps or not isinstance(steps[0], Root):
        return None
    keys: list[str | int] = []
    for step in steps[1:]:
        if isinstance(step, Fields) and len(step.fields) == 1 and step.fields[0] != "*":
            keys.append(step.fields[0])
        elif isinstance(step, Index) and len(step.indices) == 1:
            keys.append(step.indices[0])
        else:
            return None
    return tuple(keys)
