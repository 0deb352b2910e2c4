"""Expected against actual, the rule every expectation of a flow test follows:

* a scalar matches an equal scalar (``1`` and ``1.0`` are equal, ``true`` and ``1`` are not);
* a mapping matches a mapping that has every expected key with a matching value; keys that
  are not expected are ignored (outputs carry headers, timings and the like);
* a list matches a list of the same length whose items match in order;
* ``$any`` matches any value, null included (the key must be there);
* ``{$regex: PATTERN}`` matches a string in which the pattern is found (``re.search``;
  anchor it with ``^...$`` for the whole string);
* ``{$exact: VALUE}`` matches only VALUE itself: no extra keys, at any depth.

A mismatch names the path below the expectation (``total``, ``lines[1].sku``) and says what
was expected and what was found.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from weir.flow.issues import Loc

ANY = "$any"
OPERATORS = ("$regex", "$exact")
SHOWN = 200
"""Characters of a value shown in a message."""


@dataclass(frozen=True)
class Mismatch:
    loc: Loc
    """Where below the expectation: keys and list indexes."""
    message: str


def match(expected: Any, actual: Any, loc: Loc = ()) -> list[Mismatch]:
    """Every place where ``actual`` does not match ``expected``; empty when it matches."""
    return list(_match(expected, actual, loc))


def _match(expected: Any, actual: Any, loc: Loc) -> Iterator[Mismatch]:
    if expected == ANY:
        return
    operator = operator_of(expected)
    if operator == "$regex":
        yield from _regex(expected["$regex"], actual, loc)
    elif operator == "$exact":
        if not equal(expected["$exact"], actual):
            yield Mismatch(loc, f"expected exactly {show(expected['$exact'])}, got {show(actual)}")
    elif isinstance(expected, dict):
        if not isinstance(actual, dict):
            yield Mismatch(loc, f"expected an object, got {show(actual)}")
            return
        for key, value in expected.items():
            if key not in actual:
                yield Mismatch((*loc, key), f"expected {show(value)}, got no such key")
            else:
                yield from _match(value, actual[key], (*loc, key))
    elif isinstance(expected, list):
        if not isinstance(actual, list):
            yield Mismatch(loc, f"expected a list, got {show(actual)}")
        elif len(expected) != len(actual):
            yield Mismatch(
                loc, f"expected {len(expected)} items, got {len(actual)}: {show(actual)}"
            )
        else:
            for n, (want, got) in enumerate(zip(expected, actual, strict=True)):
                yield from _match(want, got, (*loc, n))
    elif not equal(expected, actual):
        yield Mismatch(loc, f"expected {show(expected)}, got {show(actual)}")


def _regex(pattern: str, actual: Any, loc: Loc) -> Iterator[Mismatch]:
    if not isinstance(actual, str) or re.search(pattern, actual) is None:
        yield Mismatch(loc, f"expected a string matching /{pattern}/, got {show(actual)}")


def operator_of(value: Any) -> str | None:
    """``$regex`` or ``$exact`` when the value is that operator's one-key mapping."""
    if isinstance(value, dict) and len(value) == 1:
        key = next(iter(value))
        if key in OPERATORS:
            return str(key)
    return None


def equal(expected: Any, actual: Any) -> bool:
    """Deep equality that tells booleans from numbers (Python's ``True == 1`` does not)."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and expected.keys() == actual.keys()
            and all(equal(value, actual[key]) for key, value in expected.items())
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(expected) == len(actual)
            and all(equal(a, b) for a, b in zip(expected, actual, strict=True))
        )
    return bool(expected == actual)


def problems(expected: Any, loc: Loc = ()) -> Iterator[tuple[Loc, str]]:
    """What is wrong with an expectation as written: an unknown ``$`` operator, a ``$regex``
    that is not a valid pattern. Checked when the test file is loaded."""
    if isinstance(expected, dict):
        dollar = [key for key in expected if key.startswith("$")]
        unknown = [key for key in dollar if key not in OPERATORS]
        if unknown or (dollar and len(expected) > 1):
            yield (
                loc,
                f"{', '.join(dollar)}: an operator is a mapping of one key, one of "
                f"{', '.join(OPERATORS)} (or the string {ANY})",
            )
            return
        if operator_of(expected) == "$regex":
            pattern = expected["$regex"]
            if not isinstance(pattern, str):
                yield (*loc, "$regex"), "$regex takes a string"
                return
            try:
                re.compile(pattern)
            except re.error as exc:
                yield (*loc, "$regex"), f"$regex {pattern!r} is not a valid pattern: {exc}"
            return
        if operator_of(expected) == "$exact":
            return
        for key, value in expected.items():
            yield from problems(value, (*loc, key))
    elif isinstance(expected, list):
        for n, item in enumerate(expected):
            yield from problems(item, (*loc, n))


def show(value: Any) -> str:
    """A value as JSON, cut short when long."""
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"


def path_text(loc: Loc) -> str:
    """``outputs.price[0].total`` from ``("outputs", "price", 0, "total")``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text
