"""``${...}`` in text: a template's literal parts and embedded expressions."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from weir.lang.expressions.cel_expr import CelExpr
from weir.lang.expressions.encoding import to_text
from weir.lang.expressions.expr import Expr, shown
from weir.lang.expressions.jsonpath import JsonPath


class Template(Expr):
    """Literal text with embedded ``${...}`` expressions, rendered to a string."""

    def __init__(self, source: str, parts: list[str | Expr]) -> None:
        self.source = source
        self._parts = parts

    def node_refs(self) -> Iterator[str]:
        for part in self._parts:
            if isinstance(part, Expr):
                yield from part.node_refs()

    def roots(self) -> frozenset[str]:
        return frozenset().union(*(p.roots() for p in self._parts if isinstance(p, Expr)))

    def evaluate(self, scope: Mapping[str, Any]) -> str:
        return "".join(p if isinstance(p, str) else to_text(p.evaluate(scope)) for p in self._parts)


def split_template(text: str) -> list[str | Expr]:
    """Text as literal strings and compiled ``${...}`` parts; ``$${`` is a literal ``${``."""
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
