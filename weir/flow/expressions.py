"""Expressions in flow files, compiled once when a flow is loaded and only evaluated per execution.

Three forms, one rule for every dynamic field:

* ``$.nodes.query.rows[0].id`` — a string that starts with ``$`` is a JSONPath reference into the
  execution scope (``input``, ``trigger``, ``nodes``, ``item``, ``error``, ...). A singular path
  (fields and single indexes only) yields one value; a path with wildcards, slices or filters
  yields the list of matches.
* ``Hello, ${input.name}!`` — ``${...}`` embeds a CEL expression (or a ``$.`` path) in a string.
  A string that is exactly one ``${...}`` keeps the expression's type (number, list, map...).
* ``item.status == "active"`` — fields that are conditions hold a bare CEL expression.

Anything else is a literal; ``$$`` at the start of a string escapes a leading ``$`` and ``$${``
writes a literal ``${``.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Annotated, Any

import cel
from jsonpath_ng import Child, Fields, Index, Root
from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
from jsonpath_ng.ext import parse as parse_jsonpath
from pydantic import PlainSerializer, PlainValidator, ValidationInfo, WithJsonSchema

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

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.source!r})"


class Literal(Expr):
    is_constant = True

    def __init__(self, value: Any, source: Any = None) -> None:
        self.value = value
        self.source = value if source is None else source

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        return self.value


class JsonPath(Expr):
    """A JSONPath reference; singular paths take a fast direct walk instead of jsonpath-ng."""

    def __init__(self, source: str) -> None:
        self.source = source
        try:
            self._parsed = parse_jsonpath(source)
        except (JsonPathLexerError, JsonPathParserError, Exception) as exc:
            raise ValueError(f"invalid JSONPath {source!r}: {exc}") from None
        steps = _flatten(self._parsed)
        self._keys: tuple[str | int, ...] | None = _singular_keys(steps)
        first = steps[1] if len(steps) > 1 else None
        if isinstance(first, Fields) and len(first.fields) == 1:
            root = first.fields[0]
            if root not in ROOT_VARIABLES:
                raise ValueError(
                    f"invalid reference {source!r}: unknown root {root!r}, "
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

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        if self._keys is None:
            return [match.value for match in self._parsed.find(scope)]
        value: Any = scope
        for key in self._keys:
            try:
                value = value[key]
            except (KeyError, IndexError, TypeError):
                raise ExpressionError(f"reference {self.source} matched nothing") from None
        return value


def _flatten(path: Any) -> list[Any]:
    if isinstance(path, Child):
        return _flatten(path.left) + _flatten(path.right)
    return [path]


def _singular_keys(steps: list[Any]) -> tuple[str | int, ...] | None:
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


class CelExpr(Expr):
    """A CEL program; only the variables it names are handed to it, so big scopes stay cheap."""

    def __init__(self, source: str) -> None:
        self.source = source
        if not source.strip():
            raise ValueError("empty CEL expression")
        try:
            self._program = cel.compile(source)
        except ValueError as exc:
            raise ValueError(f"invalid CEL expression {source!r}: {_first_line(exc)}") from None
        self._variables = tuple(self._program.variables())
        self._nodes = tuple(re.findall(r"\bnodes\.([A-Za-z_][\w-]*)", source))

    def node_refs(self) -> Iterator[str]:
        return iter(self._nodes)

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        bound = {name: scope[name] for name in self._variables if name in scope}
        try:
            return self._program.execute(bound)
        except Exception as exc:
            raise ExpressionError(
                f"expression {self.source!r} failed: {_first_line(exc)}"
            ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    if text.startswith("Failed to parse expression"):
        lines = text.splitlines()
        return " ".join(line.strip() for line in lines[1:2]) or text
    return text.splitlines()[0] if text else type(exc).__name__


class Template(Expr):
    """Literal text with embedded ``${...}`` expressions, rendered to a string."""

    def __init__(self, source: str, parts: list[str | Expr]) -> None:
        self.source = source
        self._parts = parts

    def node_refs(self) -> Iterator[str]:
        for part in self._parts:
            if isinstance(part, Expr):
                yield from part.node_refs()

    def evaluate(self, scope: Mapping[str, Any]) -> str:
        return "".join(p if isinstance(p, str) else to_text(p.evaluate(scope)) for p in self._parts)


class Structure(Expr):
    """A dict or list with dynamic leaves; constant branches are kept as they are."""

    def __init__(self, source: Any, items: dict[str, Expr] | list[Expr]) -> None:
        self.source = source
        self._items = items

    def node_refs(self) -> Iterator[str]:
        values = self._items.values() if isinstance(self._items, dict) else self._items
        for value in values:
            yield from value.node_refs()

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

    def evaluate(self, scope: Mapping[str, Any]) -> str:
        return to_text(self.inner.evaluate(scope))


def compile_string(text: str) -> Expr:
    if text.startswith("$$"):
        return Literal(text[1:], text)
    if text == "$" or text.startswith(("$.", "$[")):
        return JsonPath(text)
    if "${" not in text:
        return Literal(text)
    parts = _split_template(text)
    if len(parts) == 1 and isinstance(parts[0], Expr):
        return parts[0]
    if all(isinstance(p, str) for p in parts):
        return Literal("".join(p for p in parts if isinstance(p, str)), text)
    return Template(text, parts)


def _split_template(text: str) -> list[str | Expr]:
    parts: list[str | Expr] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("$${", i):
            literal.append("${")
            i += 3
        elif text.startswith("${", i):
            end = _closing_brace(text, i + 2)
            if end < 0:
                raise ValueError(f"unterminated '${{' in template {text!r}")
            inner = text[i + 2 : end].strip()
            if not inner:
                raise ValueError(f"empty '${{}}' in template {text!r}")
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(JsonPath(inner) if inner.startswith("$") else CelExpr(inner))
            i = end + 1
        else:
            literal.append(text[i])
            i += 1
    if literal:
        parts.append("".join(literal))
    return parts


def _closing_brace(text: str, start: int) -> int:
    depth, quote, i = 0, "", start
    while i < len(text):
        char = text[i]
        if quote:
            if char == "\\":
                i += 1
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "{":
            depth += 1
        elif char == "}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    return -1


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


def to_text(value: Any) -> str:
    """How a value is written into a template."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), default=json_default)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def json_default(value: Any) -> Any:
    """JSON encoding for the non-JSON values that nodes produce (bytes, dates, decimals)."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes):
        return {"$base64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def _source(expr: Expr) -> Any:
    return expr.source


def _labelled(compiler: Any) -> Any:
    def validate(value: Any, info: ValidationInfo) -> Expr:
        expr: Expr = compiler(value)
        if info.field_name:
            expr.label = info.field_name
        return expr

    return validate


Value = Annotated[
    Expr,
    PlainValidator(_labelled(compile_value)),
    PlainSerializer(_source),
    WithJsonSchema({"x-kubernetes-preserve-unknown-fields": True}),
]
"""Any JSON value; its strings may be ``$.`` references or ``${}`` templates."""

Text = Annotated[
    TextExpr,
    PlainValidator(_labelled(compile_text)),
    PlainSerializer(_source),
    WithJsonSchema({"type": "string"}),
]
"""A string that may hold ``$.`` references or ``${}`` templates; always evaluates to text."""

Condition = Annotated[
    CelExpr,
    PlainValidator(_labelled(compile_cel)),
    PlainSerializer(_source),
    WithJsonSchema({"type": "string"}),
]
"""A bare CEL expression, e.g. ``item.status == "active"``."""
