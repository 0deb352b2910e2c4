"""What a lookup that found nothing says: where the walk stopped and what was there."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def missing_step(
    scope: Mapping[str, Any], keys: tuple[str | int, ...], wanted: str | int | None = None
) -> str | None:
    """Walk ``keys`` through ``scope``; say where the walk stops and what was there.

    With ``wanted``, only a stop at that key counts (the key a CEL error named)."""
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
            return f"{where} is {kind_of(value)}, it has no {want}"
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


def kind_of(value: Any) -> str:
    """A value's type in CEL's words, with its article (``a list``, ``null``)."""
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
