"""`state`: keys kept between executions — get, set, increment, delete, with an optional TTL —
in the execution store's database (weir.store.state) or in Redis by URL
(weir.store.state_redis), with Redis's semantics either way: an expired key
reads as missing, SET clears a TTL unless given one, INCREMENT keeps it and is atomic.

Keys are the flow's own (``scope: flow``) or shared by the flows of its namespace
(``scope: shared``). Values are any JSON.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field, model_validator

from weir.lang.durations import Duration
from weir.lang.errors import ConfigError, ConnectionFailed, NodeError
from weir.lang.expressions import Text, Value
from weir.lang.times import iso
from weir.lang.types import Strict
from weir.nodes.context import NodeContext
from weir.nodes.kind import NodeKind
from weir.nodes.state_store import NotANumber, StateEntry, StateStore

MAX_KEY = 512
"""Characters in a key (the column's width)."""
MAX_VALUE = 1024 * 1024
"""Bytes of a value as JSON."""

# Which optional fields each operation takes.
FIELDS = {"get": {"default"}, "set": {"value", "ttl"}, "increment": {"by", "ttl"}, "delete": set()}


class StateConfig(Strict):
    op: Literal["get", "set", "increment", "delete"] = Field(description="The operation.")
    key: Text = Field(description='The key, a template: e.g. "seen/${input.id}".')
    value: Value | None = Field(None, description="set: the value, any JSON.")
    by: Value | None = Field(None, description="increment: the number added (default 1).")
    ttl: Duration | None = Field(
        None,
        description="set: the key expires after this long (no TTL: never; a set without one "
        "clears it). increment: the TTL of a key it creates; a live key keeps its own.",
    )
    scope: Literal["flow", "shared"] = Field(
        "flow",
        description="flow: this flow's keys; shared: the keys of every flow of its namespace.",
    )
    default: Value | None = Field(None, description="get: the value of a missing key (null).")

    @model_validator(mode="after")
    def _fields_of_the_op(self) -> StateConfig:
        allowed = FIELDS[self.op]
        for name in ("value", "by", "ttl", "default"):
            if getattr(self, name) is not None and name not in allowed:
                raise ValueError(f"{name} is not used by op {self.op}")
        if self.op == "set" and self.value is None:
            raise ValueError("op set needs a value")
        if self.ttl is not None and self.ttl <= 0:
            raise ValueError("ttl must be more than 0")
        return self


async def run(config: StateConfig, ctx: NodeContext) -> dict[str, Any]:
    store = ctx.state
    if store is None:
        raise ConfigError("state: no execution store configured")
    key = _key(ctx.text(config.key))
    namespace = namespace_of(config.scope, store.namespace, ctx.flow_name)
    try:
        return await OPERATIONS[config.op](config, ctx, store, namespace, key)
    except NodeError:
        raise
    except NotANumber as exc:
        raise NodeError(
            f"state increment: key {key!r} holds {_json_type(exc.value)}, not a number",
            type="state",
        ) from None
    except Exception as exc:  # the database: unreachable, locked too long, …
        raise ConnectionFailed(f"state {config.op}: the execution store failed: {exc}") from exc


def namespace_of(scope: str, namespace: str, flow: str) -> str:
    """``flow:<namespace>/<flow>`` or ``shared:<namespace>`` (namespace '' outside a cluster)."""
    return f"flow:{namespace}/{flow}" if scope == "flow" else f"shared:{namespace}"


async def _get(
    config: StateConfig, ctx: NodeContext, store: StateStore, namespace: str, key: str
) -> dict[str, Any]:
    entry = await store.get(namespace, key)
    if entry is None:
        return {"found": False, "value": ctx.eval(config.default), "expiresAt": None}
    return {"found": True, "value": _decode(entry, key), "expiresAt": _when(entry)}


async def _set(
    config: StateConfig, ctx: NodeContext, store: StateStore, namespace: str, key: str
) -> dict[str, Any]:
    value = ctx.eval(config.value)
    entry = await store.set(namespace, key, _encode(value, key), config.ttl)
    return {"key": key, "value": value, "expiresAt": _when(entry)}


async def _increment(
    config: StateConfig, ctx: NodeContext, store: StateStore, namespace: str, key: str
) -> dict[str, Any]:
    by = ctx.eval(config.by, 1)
    if isinstance(by, bool) or not isinstance(by, int | float):
        raise ConfigError(f"state increment: by must be a number, got {type(by).__name__}")
    entry = await store.increment(namespace, key, by, config.ttl)
    return {"key": key, "value": _decode(entry, key), "expiresAt": _when(entry)}


async def _delete(
    config: StateConfig, ctx: NodeContext, store: StateStore, namespace: str, key: str
) -> dict[str, Any]:
    return {"key": key, "deleted": await store.delete(namespace, key)}


OPERATIONS = {"get": _get, "set": _set, "increment": _increment, "delete": _delete}


def _key(key: str) -> str:
    if not key:
        raise ConfigError("state: the key is empty")
    if len(key) > MAX_KEY:
        raise ConfigError(f"state: the key has {len(key)} characters, at most {MAX_KEY}")
    return key


def _encode(value: Any, key: str) -> str:
    try:
        encoded = json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"state set: the value for key {key!r} is not JSON: {exc}") from None
    size = len(encoded.encode("utf-8"))
    if size > MAX_VALUE:
        raise ConfigError(
            f"state set: the value for key {key!r} is {size} bytes as JSON, at most {MAX_VALUE}"
        )
    return encoded


def _decode(entry: StateEntry, key: str) -> Any:
    try:
        return json.loads(entry.value)
    except ValueError:
        raise NodeError(
            f"state: the value stored for key {key!r} is not JSON: {entry.value[:80]!r}",
            type="state",
        ) from None


def _json_type(text: str) -> str:
    """What a JSON value is, as a message names it: a string, an object, …"""
    try:
        value = json.loads(text)
    except ValueError:
        return "text that is not JSON"
    names = {str: "a string", dict: "an object", list: "a list", bool: "a boolean"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _when(entry: StateEntry) -> str | None:
    return None if entry.expires_at is None else iso(entry.expires_at)


KIND = NodeKind(
    "state",
    StateConfig,
    run,
    "Keep values between executions: get, set, increment (atomic), delete, with a TTL.",
)
