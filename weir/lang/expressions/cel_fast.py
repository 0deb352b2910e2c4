"""Simple CEL expressions compiled to Python closures, answering only where certain.

The CEL library costs a few microseconds per call even for ``double(input.qty) * input.price``
(binding the variables, converting them into CEL values and the result back), a visible share
of a busy runner's event loop. :func:`compile_fast` compiles a small subset of CEL (literals,
variables, field selection and literal indexes, unary and binary operators, the ternary and
``double``/``int``/``string``/``size``) into a closure over the scope, once per expression.

The rule: the closure answers only when it is certain the library would give the same value of
the same type. Wherever it meets anything else (a missing field, mixed types, an int64 overflow,
a division by zero, a value the library would convert or fail to convert, NaN) it raises
:class:`Unsure` and the caller runs the library, which gives the authoritative answer or error.
A source outside the subset is not compiled at all (None).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

from weir.lang.expressions.cel_paths import FieldTree, field_trees


class Unsure(Exception):
    """The fast path cannot vouch for the answer: the CEL library must decide."""


Fast = Callable[[Mapping[str, Any]], Any]
_MIN, _MAX = -(2**63), 2**63 - 1
_TOKEN = re.compile(
    r"""\s*(?:(?P<num>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|(?P<str>"[^"\\\n\r]*"|'[^'\\\n\r]*')"""
    r"""|(?P<name>[A-Za-z_]\w*)|(?P<op>&&|\|\||[=!<>]=|[-+*/%<>!?:()\[\].,]))""",
    re.ASCII,
)
_RESERVED = {"in", "as", "break", "const", "continue", "else", "for", "function", "if"}
_RESERVED |= {"import", "let", "loop", "package", "namespace", "return", "var", "void", "while"}
_SIGNS = set("\"'&|=!<>-+*/%?:()[].,")
_GLUED = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_\"'")
_SURROGATE = re.compile("[\ud800-\udfff]")
_LITERALS = {"true": True, "false": False, "null": None}
_RESULTS = (str, bool, float, bytes, type(None))
"""Result types the library hands back unchanged (with int64 ints); containers it copies."""


def compile_fast(source: str) -> Fast | None:
    """A closure answering like the CEL library for ``source``, or None outside the subset."""
    tokens = _tokens(source)
    if tokens is None:
        return None
    names: set[str] = set()
    try:
        body, end = _Parser(tokens, names).expression(0)
    except (_NotSimple, RecursionError):
        return None
    if end != len(tokens):
        return None
    trees = field_trees(source, tuple(sorted(names)))
    checks = tuple((name, trees.get(name)) for name in sorted(names))

    def run(scope: Mapping[str, Any]) -> Any:
        try:
            for name, tree in checks:
                if name in scope and not _convertible(scope[name], tree):
                    raise Unsure
            result = body(scope)
        except RecursionError:
            raise Unsure from None
        if type(result) in _RESULTS or type(result) is int:
            return result
        raise Unsure

    return run


class _NotSimple(Exception):
    """The source leaves the subset."""


def _tokens(source: str) -> list[str] | None:
    """The source's tokens (string literals with their quotes), None where one is not in the
    subset: hex, unsigned, raw, bytes or triple-quoted literals, escapes, other operators."""
    tokens: list[str] = []
    at = 0
    while at < len(source):
        match = _TOKEN.match(source, at)
        if match is None:
            return None if source[at:].strip() else tokens
        token, at = match.group(match.lastgroup or ""), match.end()
        if token[0] not in _SIGNS and source[at : at + 1] in _GLUED:  # 0x10, 1u, b'x', r"x"
            return None
        if token[0] in "\"'" and token[1:2] == token[0] and source[at : at + 1] == token[0]:
            return None  # triple quotes
        tokens.append(token)
    return tokens


class _Parser:
    """Precedence climbing over the tokens, building closures as it goes."""

    def __init__(self, tokens: list[str], names: set[str]) -> None:
        self.tokens, self.names = tokens, names

    def peek(self, at: int) -> str:
        return self.tokens[at] if at < len(self.tokens) else ""

    def expect(self, at: int, token: str) -> int:
        if self.peek(at) != token:
            raise _NotSimple
        return at + 1

    def expression(self, at: int) -> tuple[Fast, int]:
        """``or ? or : expression`` (CEL allows only an or-expression between ? and :)."""
        test, at = self.binary(at, 1)
        if self.peek(at) != "?":
            return test, at
        then, at = self.binary(at + 1, 1)
        other, at = self.expression(self.expect(at, ":"))
        return _ternary(test, then, other), at

    def binary(self, at: int, lowest: int) -> tuple[Fast, int]:
        left, at = self.unary(at)
        while _PRECEDENCE.get(self.peek(at), 0) >= lowest:
            op = self.tokens[at]
            right, at = self.binary(at + 1, _PRECEDENCE[op] + 1)
            left = _logic(op, left, right) if op in ("&&", "||") else _operation(op, left, right)
        return left, at

    def unary(self, at: int) -> tuple[Fast, int]:
        op, count = self.peek(at), 0
        while op in ("-", "!") and self.peek(at + count) == op:
            count += 1
        operand, at = self.member(at + count)
        for _ in range(count):
            operand = _apply(_negate if op == "-" else _not, operand)
        return operand, at

    def member(self, at: int) -> tuple[Fast, int]:
        value, at = self.primary(at)
        keys: list[str | int] = []
        while self.peek(at) in (".", "["):
            if self.peek(at) == ".":
                name = self.peek(at + 1)
                if not _is_name(name) or self.peek(at + 2) == "(":
                    raise _NotSimple  # x.size(), x.startsWith(...)
                keys.append(name)
                at += 2
            else:
                key = _literal(self.peek(at + 1))
                if type(key) not in (str, int):
                    raise _NotSimple
                keys.append(key)
                at = self.expect(at + 2, "]")
        return (_walk(value, keys) if keys else value), at

    def primary(self, at: int) -> tuple[Fast, int]:
        token = self.peek(at)
        if token == "(":
            inner, at = self.expression(at + 1)
            return inner, self.expect(at, ")")
        if token in _FUNCTIONS and self.peek(at + 1) == "(":
            argument, at = self.expression(at + 2)
            return _apply(_FUNCTIONS[token], argument), self.expect(at, ")")
        if _is_name(token) and token not in _LITERALS and self.peek(at + 1) != "(":
            self.names.add(token)
            return _variable(token), at + 1
        constant = _literal(token)
        return (lambda scope: constant), at + 1


def _is_name(token: str) -> bool:
    return (token[:1].isalpha() or token[:1] == "_") and token not in _RESERVED


def _literal(token: str) -> Any:
    if token in _LITERALS:
        return _LITERALS[token]
    if token[:1] in "\"'" and len(token) > 1:
        if _encodable(token):
            return token[1:-1]
    elif token.isdigit():
        if int(token) <= _MAX:
            return int(token)
    elif token[:1].isdigit() and float(token) - float(token) == 0:  # 1e400 is no CEL double
        return float(token)
    raise _NotSimple


def _encodable(text: str) -> bool:
    """Whether the library can take the string (no lone surrogates)."""
    return text.isascii() or _SURROGATE.search(text) is None


def _convertible(value: Any, tree: FieldTree | None) -> bool:
    """Whether the library converts the variable, pruned to ``tree`` as CelExpr binds it,
    without failing; False also for what it might convert otherwise (ints beyond int64)."""
    kind = type(value)
    if kind is int:
        return _MIN <= value <= _MAX
    if kind is str:
        return _encodable(value)
    if kind is dict:
        if tree is not None:
            for key, below in tree.items():
                if key in value and not _convertible(value[key], below):
                    return False
            return True
        for key in value:
            if type(key) is not str or not _encodable(key):
                return False
        value = value.values()
    elif kind is not list and kind is not tuple:
        return kind in _RESULTS
    return all(_convertible(item, None) for item in value)


def _need(certain: bool) -> None:
    if not certain:
        raise Unsure


def _variable(name: str) -> Fast:
    def variable(scope: Mapping[str, Any]) -> Any:
        _need(name in scope)
        return scope[name]

    return variable


def _walk(base: Fast, keys: list[str | int]) -> Fast:
    """Selection and literal indexes: a present key of a dict, an index inside a list."""

    def walk(scope: Mapping[str, Any]) -> Any:
        value = base(scope)
        for key in keys:
            if isinstance(key, str):
                if type(value) is not dict or key not in value:
                    raise Unsure
            elif type(value) is not list or key >= len(value):
                raise Unsure
            value = value[key]
        return value

    return walk


def _apply(function: Callable[[Any], Any], operand: Fast) -> Fast:
    return lambda scope: function(operand(scope))


def _ternary(test: Fast, then: Fast, other: Fast) -> Fast:
    def ternary(scope: Mapping[str, Any]) -> Any:
        condition = test(scope)
        _need(type(condition) is bool)
        return then(scope) if condition else other(scope)

    return ternary


def _logic(op: str, left: Fast, right: Fast) -> Fast:
    decisive = op == "||"  # the left value that decides alone, without reading the right

    def logic(scope: Mapping[str, Any]) -> Any:
        first = left(scope)
        _need(type(first) is bool)
        if first is decisive:
            return first
        second = right(scope)
        _need(type(second) is bool)
        return second

    return logic


def _operation(op: str, left: Fast, right: Fast) -> Fast:
    function = _OPERATIONS[op]
    return lambda scope: function(left(scope), right(scope))


def _int64(value: int) -> int:
    if _MIN <= value <= _MAX:
        return value
    raise Unsure


def _same(a: Any, b: Any, kinds: tuple[type, ...]) -> type:
    """The operands' one type, where it is among ``kinds`` and no operand is NaN."""
    kind = type(a)
    if kind is type(b) and kind in kinds and (kind is not float or (a == a and b == b)):
        return kind
    raise Unsure


def _arithmetic(function: Callable[[Any, Any], Any], kinds: tuple[type, ...]) -> Operation:
    def arithmetic(a: Any, b: Any) -> Any:
        if _same(a, b, kinds) is int:
            return _int64(function(a, b))
        return function(a, b)

    return arithmetic


def _quotient(a: Any, b: Any) -> Any:
    _need(b != 0 and not (a == _MIN and b == -1))  # the library overflows on MIN / -1
    if type(a) is float:
        return a / b
    quotient = abs(a) // abs(b)
    return quotient if (a < 0) == (b < 0) else -quotient  # truncated toward zero


def _rest(a: int, b: int) -> int:
    _need(b != 0 and not (a == _MIN and b == -1))
    return -(abs(a) % abs(b)) if a < 0 else abs(a) % abs(b)  # the dividend's sign


def _compare(function: Operation, kinds: tuple[type, ...]) -> Operation:
    return lambda a, b: _same(a, b, kinds) and function(a, b)


Operation = Callable[[Any, Any], Any]
_NUMBERS = (int, float)
_ORDERED = (int, float, str)
_EQUATABLE = (int, float, str, bool, type(None))
_OPERATIONS: dict[str, Operation] = {
    "+": _arithmetic(operator.add, (int, float, str, list)),
    "-": _arithmetic(operator.sub, _NUMBERS),
    "*": _arithmetic(operator.mul, _NUMBERS),
    "/": _arithmetic(_quotient, _NUMBERS),
    "%": _arithmetic(_rest, (int,)),
    "<": _compare(operator.lt, _ORDERED),
    "<=": _compare(operator.le, _ORDERED),
    ">": _compare(operator.gt, _ORDERED),
    ">=": _compare(operator.ge, _ORDERED),
    "==": _compare(operator.eq, _EQUATABLE),
    "!=": _compare(operator.ne, _EQUATABLE),
}
_PRECEDENCE = {"||": 1, "&&": 2, "*": 5, "/": 5, "%": 5, "+": 4, "-": 4}
_PRECEDENCE |= dict.fromkeys(("<", "<=", ">", ">=", "==", "!="), 3)


def _negate(value: Any) -> Any:
    _need(type(value) in _NUMBERS)
    return _int64(-value) if type(value) is int else -value


def _not(value: Any) -> bool:
    _need(type(value) is bool)
    return not value


def _double(value: Any) -> float:
    if type(value) is float:
        return value
    _need(type(value) is int)
    return float(_int64(value))


def _int(value: Any) -> int:
    if type(value) is float:  # finite, truncated into int64 (the library refuses -2**63 too)
        _need(-(2.0**63) < value < 2.0**63)
        return int(value)
    _need(type(value) is int)
    return _int64(value)


def _string(value: Any) -> str:
    _need(type(value) in (str, int))  # no string(bool) in the library; doubles: its formatting
    return value if type(value) is str else str(_int64(value))


def _size(value: Any) -> int:
    _need(type(value) in (str, list, dict))
    if type(value) is str and not value.isascii():
        return len(value.encode())  # the library counts a string's UTF-8 bytes
    return len(value)


_FUNCTIONS: dict[str, Callable[[Any], Any]] = {
    "double": _double,
    "int": _int,
    "string": _string,
    "size": _size,
}
