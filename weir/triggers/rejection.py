"""What a trigger refuses before any execution starts: a request answered with a 4xx (or 5xx),
and the bounds every payload must keep (JSON and XML nesting depth, no NaN or Infinity).

The depth bound keeps hostile payloads out of the code that walks data recursively (schema
checks, expressions, redaction, the store): a payload deeper than ``MAX_DEPTH`` is refused
where it is decoded, never half-processed.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any, NoReturn

MAX_DEPTH = 64
"""Levels of nesting a JSON or XML payload may have (objects/arrays, or elements)."""


@dataclass
class Rejection(Exception):
    status: int
    message: str
    details: list[str] | None = None
    headers: dict[str, str] | None = None
    close: bool = False
    """Close the connection after answering (the rest of the body was not read)."""


class PayloadError(ValueError):
    """A payload that cannot be decoded; the message says why, without echoing the payload."""


class TooDeep(PayloadError):
    """A payload nested deeper than MAX_DEPTH."""


def _no_constant(name: str) -> NoReturn:
    raise PayloadError(f"{name} is not a JSON value (only finite numbers are)")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise PayloadError(f"the number {text[:40]} is too large for a double")
    return value


_DECODER = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite)
"""Made once: ``json.loads`` with these hooks would build a decoder for every payload."""


def loads_json(text: str | bytes) -> Any:
    """``json.loads`` that refuses NaN and Infinity (written, or a number too large for a
    double) and anything nested deeper than MAX_DEPTH."""
    try:
        if isinstance(text, bytes):  # as json.loads reads bytes: UTF-8, -16 or -32
            text = text.decode(json.detect_encoding(text), "surrogatepass")
        elif text.startswith("\ufeff"):  # as json.loads refuses it
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        value = _DECODER.decode(text)
    except RecursionError:
        raise TooDeep(f"nested deeper than {MAX_DEPTH} levels") from None
    except PayloadError:
        raise
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an integer too long
        if "integer string conversion" in str(exc):
            raise PayloadError(
                f"an integer has more than {sys.get_int_max_str_digits()} digits"
            ) from None
        raise PayloadError(str(exc)) from None
    if text.count("[") + text.count("{") > MAX_DEPTH:  # with fewer, nothing nests deeper
        check_depth(value)
    return value


def check_depth(value: Any, limit: int = MAX_DEPTH) -> None:
    """Refuse data nested deeper than ``limit`` (iteratively: depth costs no stack)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth >= limit:
            raise TooDeep(f"nested deeper than {limit} levels")
        stack.extend((child, depth + 1) for child in children)


def check_xml_depth(text: str, limit: int = MAX_DEPTH) -> None:
    """Refuse XML whose elements nest deeper than ``limit``, or that has a DTD.

    Streams through expat without building a tree; a document expat cannot parse passes
    here and is refused, with its reason, by the parser that reads it for real.
    """
    from xml.parsers import expat

    parser = expat.ParserCreate()
    depth = 0

    def start(name: str, attributes: Any) -> None:
        nonlocal depth
        depth += 1
        if depth > limit:
            raise TooDeep(f"the XML is nested deeper than {limit} elements")

    def end(name: str) -> None:
        nonlocal depth
        depth -= 1

    def doctype(*_: Any) -> None:
        raise PayloadError("refused XML with a DTD or entities")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = doctype
    try:
        parser.Parse(text, True)
    except expat.ExpatError:
        return
