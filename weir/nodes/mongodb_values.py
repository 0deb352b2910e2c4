"""MongoDB documents to and from the JSON values of a flow, for the mongodb node.

Out (the documents of ``find`` and ``aggregate``, inserted and upserted ids): an ObjectId is
``{"$oid": "<24 hex digits>"}``, a date is ISO 8601 text in UTC, a Decimal128 is exact as the
sql node gives decimals, a UUID is text, binary data is bytes, and every other BSON type
(timestamps, regular expressions, min/max keys ...) is MongoDB's relaxed Extended JSON.

In (``filter``, ``projection``, ``sort``, ``pipeline``, ``document(s)``, ``update``): objects
in Extended JSON are read back as BSON, so an ``_id`` taken from a find matches again and
``{"$date": "2026-01-01T00:00:00Z"}`` is a date; every other value is taken as it is.

pymongo's ``bson`` is imported inside the functions: validating a flow never needs it.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from weir.lang.errors import ConfigError
from weir.nodes.sql import exact_decimal

_PLAIN = (str, int, float, bool, type(None))


def _json_options() -> Any:
    from bson.binary import UuidRepresentation
    from bson.json_util import JSONMode, JSONOptions

    return JSONOptions(
        json_mode=JSONMode.RELAXED,
        tz_aware=True,
        uuid_representation=UuidRepresentation.STANDARD,
    )


def to_bson(value: Any, where: str) -> Any:
    """An evaluated config value as pymongo takes it; ``ConfigError`` naming ``where`` when an
    Extended JSON object in it is malformed (``{"$oid": "xyz"}``)."""
    from bson import json_util
    from bson.errors import BSONError

    options = _json_options()

    def convert(item: Any) -> Any:
        if isinstance(item, dict):
            # Inner objects first, as a JSON parser builds them.
            return json_util.object_hook({str(k): convert(v) for k, v in item.items()}, options)
        if isinstance(item, list | tuple):
            return [convert(v) for v in item]
        return item

    try:
        return convert(value)
    except (BSONError, ValueError, TypeError, KeyError, OverflowError) as exc:
        raise ConfigError(f"{where}: not valid MongoDB Extended JSON: {exc}") from None


def from_bson(value: Any) -> Any:
    """A value pymongo returned, as JSON (see the module's docstring)."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is dict or isinstance(value, dict):
        return {str(k): from_bson(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [from_bson(v) for v in value]
    return _scalar(value)


def _scalar(value: Any) -> Any:
    from bson import Decimal128, ObjectId, json_util

    if isinstance(value, ObjectId):
        return {"$oid": str(value)}
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):  # Int64
        return int(value)
    if isinstance(value, bytes):  # Binary, a bytes subclass, and plain bytes
        return bytes(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, Decimal128):
        return exact_decimal(value.to_decimal())
    if isinstance(value, uuid.UUID):
        return str(value)
    return json.loads(json_util.dumps(value, json_options=_json_options()))
