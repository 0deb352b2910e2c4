"""Record values as JSON text: orjson for speed, the standard library for what orjson refuses
(integers beyond 64 bits, nesting deeper than 254 levels), previews for values over the limit."""

from __future__ import annotations

import json
from typing import Any

import orjson

from weir.lang.expressions import json_default

PREVIEW = 1000
_OPTIONS = orjson.OPT_NON_STR_KEYS
_STANDARD = json.JSONEncoder(default=json_default, ensure_ascii=False).encode


def to_json(value: Any) -> str:
    """``value`` as JSON text. orjson writes NaN and infinities as null (the standard library
    wrote them as bare words, which are not JSON)."""
    try:
        return orjson.dumps(value, default=json_default, option=_OPTIONS).decode()
    except (orjson.JSONEncodeError, TypeError):
        return _STANDARD(value)


def encode(value: Any, limit: int) -> str | None:
    """JSON text for a column; a value over ``limit`` characters is kept as a preview."""
    if value is None:
        return None
    text = to_json(value)
    if len(text) > limit:
        return json.dumps(
            {"$truncated": True, "bytes": len(text.encode()), "preview": text[:PREVIEW]}
        )
    return text


def decode(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # records written before orjson may hold NaN or Infinity
        return json.loads(text)
