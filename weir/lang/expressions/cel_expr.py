"""CEL programs: compiled with their size, syntax and functions checked; failures explained."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from typing import Any

import cel

from weir.lang.expressions.diagnosis import missing_step
from weir.lang.expressions.expr import MAX_EXPRESSION_LENGTH, Expr, ExpressionError, shown


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
                why = missing_step(bound, chain, wanted)
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
