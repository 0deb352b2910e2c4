"""Content search, compiled to SQL: ``text`` (a substring of the trigger payload, the result
or the error) and ``jsonpath`` (one comparison over an execution's JSON).

The jsonpath subset: ``$.ROOT[.key | ."quoted key" | [index]]... OP LITERAL`` where ROOT is
``input`` (the trigger's payload), ``output`` (the result) or ``error``; OP one of ``==``,
``!=``, ``<``, ``<=``, ``>``, ``>=``; LITERAL a JSON string, a number, ``true`` or ``false``
(booleans only with ``==`` and ``!=``). A comparison holds only where the value exists and has
the literal's type (strict: an array is not searched for a matching item), the same on SQLite
(``json_extract``) and PostgreSQL (``jsonb @@ jsonpath``, which a GIN index answers for
``==`` on the input and the output).

    $.input.customer == "ACME"
    $.input.order.lines[0].qty > 2
    $.output.ok == true
    $.error.type != "timeout"
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, cast, func, literal, or_
from sqlalchemy.dialects.postgresql import JSONB, JSONPATH

from weir.store.tables import executions


class InvalidQuery(ValueError):
    """A filter, cursor or search the store cannot run; the message names what is wrong."""


ROOTS = {
    "input": (executions.c.trigger, ("payload",)),
    "output": (executions.c.result, ()),
    "error": (executions.c.error, ()),
}
OPERATORS = ("==", "!=", "<=", ">=", "<", ">")
_SQL_OPERATORS = {"==": "=", "!=": "!=", "<=": "<=", ">=": ">=", "<": "<", ">": ">"}
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<dot>\.)(?P<name>[A-Za-z_][A-Za-z0-9_-]*)
    | (?P<qdot>\.)"(?P<quoted>[^"\\]*)"
    | \[(?P<index>\d{1,9})\]
    )""",
    re.VERBOSE,
)
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?\Z")
MAX_LENGTH = 1000


@dataclass(frozen=True)
class Predicate:
    root: str
    path: tuple[str | int, ...]
    operator: str
    value: str | float | int | bool


def parse(source: str) -> Predicate:
    """The predicate ``source`` states, or InvalidQuery saying where it goes wrong."""
    if len(source) > MAX_LENGTH:
        raise InvalidQuery(f"jsonpath: longer than {MAX_LENGTH} characters")
    rest = source.strip()
    if not rest.startswith("$"):
        raise InvalidQuery(f"jsonpath {source!r}: must start with $ (e.g. $.input.customer)")
    root = re.match(r"\$\.(input|output|error)\b", rest)
    if root is None:
        raise InvalidQuery(
            f"jsonpath {source!r}: the path starts with $.input, $.output or $.error"
        )
    position = root.end()
    path: list[str | int] = []
    while (token := _TOKEN.match(rest, position)) is not None:
        if token["index"] is not None:
            path.append(int(token["index"]))
        else:
            path.append(token["name"] if token["name"] is not None else token["quoted"])
        position = token.end()
    tail = rest[position:].lstrip()
    operator = next((op for op in OPERATORS if tail.startswith(op)), None)
    if operator is None:
        raise InvalidQuery(
            f"jsonpath {source!r}: expected .key, [index] or one of {' '.join(OPERATORS)} "
            f"at {tail[:20]!r}"
            if tail
            else f'jsonpath {source!r}: no comparison (e.g. == "x")'
        )
    value = _literal(source, tail[len(operator) :].strip())
    if isinstance(value, bool) and operator not in ("==", "!="):
        raise InvalidQuery(f"jsonpath {source!r}: true and false compare only with == and !=")
    return Predicate(root[1], tuple(path), operator, value)


def _literal(source: str, text: str) -> str | float | int | bool:
    if text in ("true", "false"):
        return text == "true"
    if text.startswith('"'):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, str):
            return value
        raise InvalidQuery(f"jsonpath {source!r}: {text!r} is not one JSON string")
    if _NUMBER.match(text):
        number = float(text)
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    what = f"{text!r} is not" if text else "missing"
    raise InvalidQuery(
        f'jsonpath {source!r}: {what} a value: use a "string", a number, true or false'
    )


def condition(predicate: Predicate, dialect: str) -> ColumnElement[bool]:
    column, prefix = ROOTS[predicate.root]
    steps = (*prefix, *predicate.path)
    if dialect == "postgresql":
        path = "strict $" + "".join(_pg_step(step) for step in steps)
        query = f"{path} {predicate.operator} {json.dumps(predicate.value)}"
        return cast(column, JSONB).op("@@")(cast(literal(query), JSONPATH))
    return _sqlite_condition(column, "$" + "".join(_sqlite_step(s) for s in steps), predicate)


def _sqlite_condition(column: Any, path: str, predicate: Predicate) -> ColumnElement[bool]:
    kind = func.json_type(column, path)
    value = predicate.value
    if isinstance(value, bool):
        wanted = value if predicate.operator == "==" else not value
        return kind == ("true" if wanted else "false")
    typed = kind == "text" if isinstance(value, str) else kind.in_(("integer", "real"))
    compared = func.json_extract(column, path).op(_SQL_OPERATORS[predicate.operator])(value)
    return and_(compared, typed)  # SQLite stops at the first false: one parse per miss


def _pg_step(step: str | int) -> str:
    return f"[{step}]" if isinstance(step, int) else "." + json.dumps(step)


def _sqlite_step(step: str | int) -> str:
    return f"[{step}]" if isinstance(step, int) else f'."{step}"'


def contains(needle: str, dialect: str) -> ColumnElement[bool]:
    """The trigger payload, the result or the error holds ``needle`` (case-insensitively)."""
    if not needle:
        raise InvalidQuery("text: empty; leave it out to match every execution")
    if len(needle) > MAX_LENGTH:
        raise InvalidQuery(f"text: longer than {MAX_LENGTH} characters")
    pattern = "%" + re.sub(r"([\\%_])", r"\\\1", needle) + "%"
    columns = (executions.c.trigger, executions.c.result, executions.c.error)
    if dialect == "postgresql":
        return or_(*(c.ilike(pattern, escape="\\") for c in columns))
    return or_(*(c.like(pattern, escape="\\") for c in columns))
