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
import difflib
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
        if len(source) > MAX_EXPRESSION_LENGTH:
            raise ValueError(
                f"JSONPath {shown(source)} is {len(source):,} characters long; "
                f"the limit is {MAX_EXPRESSION_LENGTH:,}"
            )
        try:
            self._parsed = parse_jsonpath(source)
        except (JsonPathLexerError, JsonPathParserError, Exception) as exc:
            reason = "it nests too deeply" if isinstance(exc, RecursionError) else exc
            raise ValueError(f"invalid JSONPath {shown(source)}: {reason}") from None
        steps = _flatten(self._parsed)
        self._keys: tuple[str | int, ...] | None = _singular_keys(steps)
        first = steps[1] if len(steps) > 1 else None
        if isinstance(first, Fields) and len(first.fields) == 1:
            root = first.fields[0]
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

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        if self._keys is None:
            return [match.value for match in self._parsed.find(scope)]
        value: Any = scope
        for key in self._keys:
            try:
                value = value[key]
            except (KeyError, IndexError, TypeError):
                why = _missing_step(scope, self._keys)
                raise ExpressionError(
                    f"reference {self.source} matched nothing" + (f": {why}" if why else "")
                ) from None
        return value


def _flatten(path: Any) -> list[Any]:
    """The steps of a parsed JSONPath, left to right (iteratively: paths can be long)."""
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
        _check_cel_size(source)
        try:
            self._program = cel.compile(source)
        except Exception as exc:
            raise ValueError(
                f"invalid CEL expression {shown(source)}: {_parse_reason(exc)}"
            ) from None
        except BaseException as exc:  # the Rust parser's panics are BaseExceptions
            if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
                raise
            raise ValueError(
                f"invalid CEL expression {shown(source)}: the parser failed ({exc})"
            ) from None
        unknown = [f for f in self._program.functions() if _is_named(f) and f not in CEL_FUNCTIONS]
        if unknown:
            raise ValueError(_unknown_functions(unknown, source))
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
                f"expression {shown(self.source)} failed: {_runtime_reason(exc, self.source, bound)}"
            ) from None


MAX_EXPRESSION_LENGTH = 10_000
"""Characters in one CEL expression or JSONPath."""

MAX_EXPRESSION_NESTING = 50
"""Brackets open at once in one CEL expression (the CEL parser recurses on them)."""

CEL_FUNCTIONS = frozenset(
    {
        # strings, lists and maps
        "size",
        "contains",
        "startsWith",
        "endsWith",
        "matches",
        # conversions and types
        "int",
        "uint",
        "double",
        "string",
        "bytes",
        "type",
        "dyn",
        "duration",
        "timestamp",
        # timestamps and durations
        "getFullYear",
        "getMonth",
        "getDate",
        "getDayOfMonth",
        "getDayOfYear",
        "getDayOfWeek",
        "getHours",
        "getMinutes",
        "getSeconds",
        "getMilliseconds",
        # optionals: optional.of(x), optional.none(), x.hasValue(), x.value(), x.orValue(y)
        "of",
        "ofNonZeroValue",
        "none",
        "hasValue",
        "value",
        "or",
        "orValue",
    }
)
"""The functions the CEL runtime provides; a call to any other name fails when the flow is
loaded. The macros ``has``, ``all``, ``exists``, ``exists_one``, ``map`` and ``filter`` are
expanded by the parser and need no entry. tests/flow/test_expressions.py checks this list
against the runtime."""

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _is_named(function: str) -> bool:
    """A function written by name, as opposed to an operator (``_+_``, ``!_``, ``@in``)."""
    return _IDENTIFIER.fullmatch(function) is not None


def _unknown_functions(names: list[str], source: str) -> str:
    parts = []
    for name in names:
        close = difflib.get_close_matches(name, sorted(CEL_FUNCTIONS), n=1)
        parts.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    noun = "function" if len(names) == 1 else "functions"
    return (
        f"unknown CEL {noun} {', '.join(parts)} in {shown(source)}; CEL here offers "
        "size, contains, startsWith, endsWith, matches, int, uint, double, string, bytes, "
        "type, dyn, duration, timestamp, the timestamp getters (getFullYear ...) and the macros "
        "has, all, exists, exists_one, map and filter (docs/expressions.md)"
    )


def _check_cel_size(source: str) -> None:
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise ValueError(
            f"CEL expression {shown(source)} is {len(source):,} characters long; "
            f"the limit is {MAX_EXPRESSION_LENGTH:,}"
        )
    depth = deepest = 0
    for char in source:
        if char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
    if deepest > MAX_EXPRESSION_NESTING:
        raise ValueError(
            f"CEL expression {shown(source)} nests brackets {deepest} deep; "
            f"the limit is {MAX_EXPRESSION_NESTING}"
        )


def shown(source: str, limit: int = 80) -> str:
    """An expression quoted for a message, cut short when long."""
    if len(source) <= limit:
        return repr(source)
    return repr(source[:limit]) + f" (+{len(source) - limit:,} characters)"


_PARSE_ERROR = re.compile(r"ERROR: <input>:(\d+):(\d+): (.*)")


def _parse_reason(exc: BaseException) -> str:
    """The CEL parser's reasons (``Syntax error: mismatched input ...``) with their columns."""
    text = str(exc).strip()
    reasons = []
    for line, column, reason in _PARSE_ERROR.findall(text):
        where = f"column {column}" if line == "1" else f"line {line}, column {column}"
        reasons.append(f"{where}: {reason.strip()}")
    if reasons:
        return "; ".join(reasons)
    return text.splitlines()[0] if text else type(exc).__name__


def _runtime_reason(exc: BaseException, source: str, bound: Mapping[str, Any]) -> str:
    """Why an evaluation failed; a missing field or index names the path and what was there."""
    text = str(exc).strip()
    wanted: str | int | None = None
    if isinstance(exc, KeyError) and exc.args:
        wanted = exc.args[0]
    elif isinstance(exc, IndexError):
        found = re.search(r"-?\d+", text)
        wanted = int(found.group()) if found else None
    if isinstance(exc, KeyError | IndexError | TypeError):
        for chain in _chains(source):
            if chain[0] in bound:
                why = _missing_step(bound, chain, wanted)
                if why:
                    return why
    if isinstance(exc, KeyError) and isinstance(wanted, str):
        return f"no field {wanted!r}"
    return text.splitlines()[0] if text else type(exc).__name__


_CHAIN = re.compile(
    r"""(?<![\w.'"])([A-Za-z_][A-Za-z0-9_]*)"""
    r"""((?:\s*\.\s*[A-Za-z_][A-Za-z0-9_]*(?!\w|\s*\()"""
    r"""|\s*\[\s*(?:-?\d+|"[^"\\]*"|'[^'\\]*')\s*\])*)"""
)
_STEP = re.compile(r"""\.\s*([A-Za-z_][A-Za-z0-9_]*)|\[\s*(-?\d+|"[^"]*"|'[^']*')\s*\]""")


def _chains(source: str) -> Iterator[tuple[str | int, ...]]:
    """The field paths an expression reads (``nodes.fetch.customer["e-mail"]``), by their text."""
    for match in _CHAIN.finditer(source):
        keys: list[str | int] = [match.group(1)]
        for step in _STEP.finditer(match.group(2)):
            name, index = step.groups()
            if name is not None:
                keys.append(name)
            elif index[0] in "\"'":
                keys.append(index[1:-1])
            else:
                keys.append(int(index))
        if len(keys) > 1:
            yield tuple(keys)


def _missing_step(
    scope: Mapping[str, Any], keys: tuple[str | int, ...], wanted: str | int | None = None
) -> str | None:
    """Walk ``keys`` through ``scope``; say where the walk stops and what was there."""
    value: Any = scope
    path: list[str] = []
    for key in keys:
        where = _path_text(path)
        if isinstance(value, Mapping):
            if key in value:
                value = value[key]
            else:
                if wanted is not None and key != wanted:
                    return None
                if path == ["nodes"]:
                    ran = ", ".join(map(str, value)) or "none yet"
                    return f"node {key!r} has no output here (outputs so far: {ran})"
                fields = _listing(list(value))
                return f"{where} has no field {key!r} ({fields})"
        elif isinstance(value, list | tuple) and isinstance(key, int):
            if -len(value) <= key < len(value):
                value = value[key]
            else:
                if wanted is not None and key != wanted:
                    return None
                items = "1 item" if len(value) == 1 else f"{len(value)} items"
                return f"{where} has {items}, no index {key}"
        else:
            want = f"field {key!r}" if isinstance(key, str) else f"index {key}"
            return f"{where} is {_kind(value)}, it has no {want}"
        path.append(f"[{key}]" if isinstance(key, int) else str(key))
    return None


def _path_text(path: list[str]) -> str:
    return ".".join(path).replace(".[", "[") or "the scope"


def _listing(keys: list[Any], limit: int = 10) -> str:
    if not keys:
        return "it is empty"
    shown_keys = ", ".join(str(k) for k in keys[:limit])
    more = f" and {len(keys) - limit} more" if len(keys) > limit else ""
    return f"it has: {shown_keys}{more}"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a bool"
    if isinstance(value, int):
        return "an int"
    if isinstance(value, float):
        return "a double"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bytes):
        return "bytes"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "a map"
    return f"a {type(value).__name__}"


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
                raise ValueError(f"unterminated '${{' in template {shown(text)}")
            inner = text[i + 2 : end].strip()
            if not inner:
                raise ValueError(f"empty '${{}}' in template {shown(text)}")
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
        f"expected a list or a reference to one (e.g. $.nodes.query.rows), got {_kind(expr.value)}"
    )


_BARE_REFERENCE = re.compile(
    r"\$?\.?(?:" + "|".join(ROOT_VARIABLES) + r")(?:$|[.\[])(?:[\w.\[\]'\"*-]*)$"
)


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

Items = Annotated[
    Expr,
    PlainValidator(_labelled(compile_list)),
    PlainSerializer(_source),
    WithJsonSchema({"x-kubernetes-preserve-unknown-fields": True}),
]
"""A list: written out, or a reference or ``${}`` expression that gives one."""

Condition = Annotated[
    CelExpr,
    PlainValidator(_labelled(compile_cel)),
    PlainSerializer(_source),
    WithJsonSchema({"type": "string"}),
]
"""A bare CEL expression, e.g. ``item.status == "active"``."""
