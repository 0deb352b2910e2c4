"""CEL programs: compiled with their size, syntax and functions checked; failures explained."""

from __future__ import annotations

import difflib
import importlib.machinery
import importlib.util
import re
import sys
import threading
from collections.abc import Iterator, Mapping
from types import ModuleType
from typing import Any

from weir.lang.expressions.cel_fast import Unsure, compile_fast
from weir.lang.expressions.cel_paths import chain_match, chains, field_trees, pruned, steps
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
            self._program = cel_runtime().compile(source)
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
        self._path = _selection(source, self._variables)
        self._fields = field_trees(source, self._variables)
        # A selection is answered by _select already; where that misses, so would this.
        self._fast = None if self._path is not None else compile_fast(source)

    def node_refs(self) -> Iterator[str]:
        return iter(self._nodes)

    def roots(self) -> frozenset[str]:
        return frozenset(self._variables)

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        if self._path is not None:
            found = _select(scope.get(self._variables[0], _MISSING), self._path)
            if found is not _MISSING:
                return found
        if self._fast is not None:
            try:
                return self._fast(scope)
            except Unsure:
                pass  # the library decides, and explains a failure
        if self._fields:
            fields = self._fields
            small = {
                name: pruned(scope[name], fields.get(name))
                for name in self._variables
                if name in scope
            }
            try:
                return self._program.execute(small)
            except Exception:
                pass  # run again on the whole values, which explains the failure as ever
        bound = {name: scope[name] for name in self._variables if name in scope}
        try:
            return self._program.execute(bound)
        except Exception as exc:
            raise ExpressionError(
                f"expression {shown(self.source)} failed: {_runtime_reason(exc, self.source, bound)}"
            ) from None


_MISSING = object()


def _selection(source: str, variables: tuple[str, ...]) -> tuple[str | int, ...] | None:
    """The keys an expression that only selects (``nodes.parse.order['@id']``) takes from its
    one variable, else None.

    Such an expression is most of what flows write, and walking the keys directly saves
    converting the variable it reads (often a node's whole output) into CEL values and back.
    """
    match = chain_match(source)
    if match is None or variables != (match.group(1),):
        return None
    return tuple(steps(match.group(2)))


_AS_THEY_ARE = (str, bool, float, bytes, type(None))
"""Values CEL hands back unchanged; it converts the rest (containers copied, tuples to lists,
Decimals to floats), so for those the program runs."""
_INT64 = range(-(2**63), 2**63)


def _select(value: Any, keys: tuple[str | int, ...]) -> Any:
    """The value at ``keys`` where CEL would answer the same; _MISSING where CEL fails or
    might answer differently (a missing key, a negative index, a type other than dict and
    list on the way, a value CEL converts), so that the CEL program runs and explains."""
    for key in keys:
        if isinstance(key, str):
            if type(value) is not dict:
                return _MISSING
            value = value.get(key, _MISSING)
            if value is _MISSING:
                return value
        elif type(value) is list and 0 <= key < len(value):
            value = value[key]
        else:
            return _MISSING
    if type(value) in _AS_THEY_ARE or (type(value) is int and value in _INT64):
        return value
    return _MISSING


def cel_runtime() -> ModuleType:
    """The CEL runtime: the package's compiled extension ``cel.cel``, loaded on first use.

    ``import cel`` would also import the package's own command line (typer, rich,
    prompt_toolkit: a tenth of a second), which a flow never needs. The extension is registered
    as ``cel.cel`` because it may be initialised only once per process: a later ``import cel``
    finds it there and reuses it.
    """
    global _RUNTIME
    if _RUNTIME is None:
        # Threads validating flows at once (the operator's handlers) must neither initialise it
        # twice (its Rust logger may be set only once) nor use it half initialised.
        with _CEL_LOADING:
            if _RUNTIME is None:
                loaded = sys.modules.get("cel.cel")
                done = loaded is not None and hasattr(loaded, "compile")
                _RUNTIME = loaded if done and loaded else _load_cel_extension()
    return _RUNTIME


_RUNTIME: ModuleType | None = None
_CEL_LOADING = threading.Lock()


def _load_cel_extension() -> ModuleType:
    package = importlib.util.find_spec("cel")  # finds the package without running it
    spec = importlib.machinery.PathFinder.find_spec(
        "cel.cel", package.submodule_search_locations if package else None
    )
    if spec is None or spec.loader is None:
        raise ImportError("the CEL runtime (package common-expression-language) is missing")
    module = importlib.util.module_from_spec(spec)
    sys.modules["cel.cel"] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules["cel.cel"]
        raise
    return module


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
        for chain in chains(source):
            if chain[0] in bound:
                why = missing_step(bound, chain, wanted)
                if why:
                    return why
    if isinstance(exc, KeyError) and isinstance(wanted, str):
        return f"no field {wanted!r}"
    return text.splitlines()[0] if text else type(exc).__name__
