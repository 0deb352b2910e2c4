"""A config value to its compiled form: a literal, a reference, a template or a structure."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from weir.lang.expressions.cel_expr import CelExpr
from weir.lang.expressions.diagnosis import kind_of
from weir.lang.expressions.encoding import to_text
from weir.lang.expressions.expr import ROOT_VARIABLES, Expr, Literal, shown
from weir.lang.expressions.jsonpath import JsonPath
from weir.lang.expressions.template import Template, split_template


class Structure(Expr):
    """A dict or list with dynamic leaves; constant branches are kept as they are."""

    def __init__(self, source: Any, items: dict[str, Expr] | list[Expr]) -> None:
        self.source = source
        self._items = items

    def node_refs(self) -> Iterator[str]:
        values = self._items.values() if isinstance(self._items, dict) else self._items
        for value in values:
            yield from value.node_refs()

    def roots(self) -> frozenset[str]:
        values = self._items.values() if isinstance(self._items, dict) else self._items
        return frozenset().union(*(value.roots() for value in values))

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        if isinstance(self._items, dict):
            return {key: expr.evaluate(scope) for key, expr in self._items.items()}
        return [expr.evaluate(scope) for expr in self._items]


class TextExpr(Expr):
    """Any dynamic string form whose result is always converted to text."""

    def __init__(self, inner: Expr) -> None:
        self.inner = inner
        self.source = inner.source
        self.is_constant = inner.is_constant

    def node_refs(self) -> Iterator[str]:
        return self.inner.node_refs()

    def roots(self) -> frozenset[str]:
        return self.inner.roots()

    def evaluate(self, scope: Mapping[str, Any]) -> str:
        return to_text(self.inner.evaluate(scope))


def compile_string(text: str) -> Expr:
    if text.startswith("$$"):
        return Literal(text[1:], text)
    if text == "$" or text.startswith(("$.", "$[")):
        return JsonPath(text)
    if "${" not in text:
        return Literal(text)
    parts = split_template(text)
    if len(parts) == 1 and isinstance(parts[0], Expr):
        return parts[0]
    if all(isinstance(p, str) for p in parts):
        return Literal("".join(p for p in parts if isinstance(p, str)), text)
    return Template(text, parts)


def compile_value(value: Any) -> Expr:
    """Compile any JSON-like value whose strings may be references or templates."""
    if isinstance(value, Expr):
        return value
    if isinstance(value, str):
        return compile_string(value)
    if isinstance(value, dict):
        items = {str(k): compile_value(v) for k, v in value.items()}
        if all(e.is_constant for e in items.values()):
            return Literal({k: e.evaluate({}) for k, e in items.items()}, value)
        return Structure(value, items)
    if isinstance(value, list):
        elements = [compile_value(v) for v in value]
        if all(e.is_constant for e in elements):
            return Literal([e.evaluate({}) for e in elements], value)
        return Structure(value, elements)
    return Literal(value)


def compile_text(value: Any) -> TextExpr:
    if isinstance(value, TextExpr):
        return value
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("expected a string")
    return TextExpr(compile_string(str(value)))


def compile_cel(value: Any) -> CelExpr:
    if isinstance(value, CelExpr):
        return value
    if isinstance(value, bool):
        return CelExpr("true" if value else "false")
    if not isinstance(value, str):
        raise ValueError("expected a CEL expression as a string")
    return CelExpr(value)


def compile_list(value: Any) -> Expr:
    """A value that must be a list: a literal list, or an expression that gives one. Text that
    looks like a reference written without ``$.`` (``input.rows``) is refused with the fix."""
    expr = compile_value(value)
    if not isinstance(expr, Literal) or isinstance(expr.value, list):
        return expr
    text = expr.source if isinstance(expr.source, str) else None
    if text is not None and _BARE_REFERENCE.match(text):
        path = text.lstrip("$").lstrip(".")
        raise ValueError(
            f"{shown(text)} is plain text, and this field takes a list; "
            f"to read the list it names write $.{path}"
        )
    raise ValueError(
        f"expected a list or a reference to one (e.g. $.nodes.query.rows), got {kind_of(expr.value)}"
    )


_BARE_REFERENCE = re.compile(
    r"\$?\.?(?:" + "|".join(ROOT_VARIABLES) + r")(?:$|[.\[])(?:[\w.\[\]'\"*-]*)$"
)
