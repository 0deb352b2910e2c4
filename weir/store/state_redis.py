"""The state node's keys in Redis (``WEIR_STATE_URL=redis://…``), with the semantics of the SQL
store (weir.store.state): each key is ``weir:state:<namespace>:<key>`` holding the value's JSON
text, a TTL is the key's Redis expiry (so an expired key is gone: Redis expires keys itself and
no sweep is needed), SET clears the TTL unless given one, INCREMENT keeps it.

INCREMENT and ``add(renew=True)`` are Lua scripts, atomic in Redis: values are JSON text, which
``INCRBYFLOAT`` would misread (and it would turn 3 + 1 into "4" but also 2.5 + 0.5 into "3").
Expiry is read back as PTTL and turned into a time on this process's clock.

redis-py (the ``redis`` extra) is imported when the first key is used, so that validating
flows and starting the CLI never load it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from weir.lang.errors import AuthFailed, ConfigError, ConnectionFailed, NodeError
from weir.nodes.state_store import NotANumber, StateEntry

PREFIX = "weir:state:"
SCHEMES = ("redis", "rediss")
DEFAULT_PORT = 6379
GET_MANY_BATCH = 500
CONNECT_TIMEOUT = 10.0
REPLY_TIMEOUT = 30.0
"""Seconds to connect, and to wait for a reply."""
"""Keys per MGET-like script call."""

# Lua helpers shared by the scripts: the value of a key with its PTTL (-1: no expiry).
_ENTRY = "local function entry(k, v) return {v, redis.call('PTTL', k)} end\n"

GET = (
    _ENTRY
    + """
local v = redis.call('GET', KEYS[1])
if not v then return false end
return entry(KEYS[1], v)
"""
)

GET_MANY = """
local out = {}
for i, k in ipairs(KEYS) do
  local v = redis.call('GET', k)
  if v then out[#out + 1] = {i, v, redis.call('PTTL', k)} end
end
return out
"""

# ARGV: by (JSON text), the TTL in ms ('' for none) of a key it creates. Returns {value, pttl},
# or {'NAN', value} when the live value is not a JSON number (left as it was).
INCREMENT = (
    _ENTRY
    + r"""
local k, by, ttl = KEYS[1], ARGV[1], ARGV[2]
local v = redis.call('GET', k)
if not v then
  if ttl == '' then redis.call('SET', k, by) else redis.call('SET', k, by, 'PX', ttl) end
  return entry(k, by)
end
local n = tonumber(v)
if not (n and string.find(v, '^%-?%d[%d%.eE%+%-]*$')) then return {'NAN', v} end
local integer = '^%-?%d+$'
if string.find(v, integer) and string.find(by, integer) then
  -- Exact in 64 bits and keeps the TTL; its reply, a Lua number, is not: read the text back.
  local sum = redis.pcall('INCRBY', k, by)
  if type(sum) == 'number' then return entry(k, redis.call('GET', k)) end
end
local sum = n + tonumber(by)
if sum ~= sum or sum == math.huge or sum == -math.huge then
  return redis.error_reply('the sum is not a finite number')
end
local text
if sum == math.floor(sum) and math.abs(sum) < 1e15 then
  text = string.format('%.1f', sum)  -- a fraction was involved: it stays a float, as in SQL
else
  for digits = 15, 17 do  -- the shortest text that reads back as the same number
    text = string.format('%.' .. digits .. 'g', sum)
    if tonumber(text) == sum then break end
  end
end
redis.call('SET', k, text, 'KEEPTTL')
return entry(k, text)
"""
)

# ARGV: value, TTL in ms ('' for none). Writes when the key is missing or holds this value.
RENEW = """
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('SET', KEYS[1], ARGV[1])
else redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
return 1
"""


def redis_location(url: str) -> str:
    """``host:port/db`` of a Redis URL, without its password: what messages name."""
    parts = urlsplit(url)
    try:
        port = str(parts.port or DEFAULT_PORT)
    except ValueError:
        port = parts.netloc.rpartition(":")[2]
    return f"{parts.hostname or ''}:{port}{parts.path or '/0'}"


def check_redis_url(url: str) -> None:
    """ValueError naming what is wrong with ``redis[s]://[[user]:password@]host[:port][/db]``
    (the URL is named without its password)."""
    parts = urlsplit(url)
    shown = f"{parts.scheme}://{redis_location(url)}" if parts.scheme else "(no scheme)"
    if parts.scheme not in SCHEMES:
        raise ValueError(f"state URL {shown}: the scheme must be redis:// or rediss://")
    if not parts.hostname:
        raise ValueError(f"state URL {shown}: no host")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        raise ValueError(f"state URL {shown}: the port must be a number up to 65535") from None
    database = parts.path.lstrip("/")
    if database and not database.isdigit():
        raise ValueError(f"state URL {shown}: the database must be a number, got {database!r}")


class RedisStateStore:
    """``weir.nodes.state_store.StateStore`` in Redis; one client (a connection pool) per store,
    made on first use."""

    def __init__(
        self, url: str, *, namespace: str = "", clock: Callable[[], float] = time.time
    ) -> None:
        check_redis_url(url)
        self.url = url
        self.namespace = namespace
        self.clock = clock
        self.location = redis_location(url)
        self._client: Any = None
        self._scripts: dict[str, Any] = {}

    async def get(self, namespace: str, key: str) -> StateEntry | None:
        found = await self._script(GET, [_name(namespace, key)], [])
        return None if found is None else self._entry(found[0], found[1])

    async def set(self, namespace: str, key: str, value: str, ttl: float | None) -> StateEntry:
        now = self.clock()
        await self._call(lambda c: c.set(_name(namespace, key), value, px=_ms(ttl)))
        return StateEntry(value, None if ttl is None else now + ttl)

    async def increment(
        self, namespace: str, key: str, by: int | float, ttl: float | None
    ) -> StateEntry:
        args = [json.dumps(by), "" if ttl is None else str(_ms(ttl))]
        found = await self._script(INCREMENT, [_name(namespace, key)], args)
        if found[0] == "NAN":
            raise NotANumber(found[1])
        return self._entry(found[0], found[1])

    async def delete(self, namespace: str, key: str) -> bool:
        return bool(await self._call(lambda c: c.delete(_name(namespace, key))))

    async def add(
        self, namespace: str, key: str, value: str, ttl: float | None, *, renew: bool = False
    ) -> bool:
        name = _name(namespace, key)
        if renew:
            args = [value, "" if ttl is None else str(_ms(ttl))]
            return bool(await self._script(RENEW, [name], args))
        return bool(await self._call(lambda c: c.set(name, value, px=_ms(ttl), nx=True)))

    async def get_many(self, namespace: str, keys: list[str]) -> dict[str, StateEntry]:
        found: dict[str, StateEntry] = {}
        for start in range(0, len(keys), GET_MANY_BATCH):
            batch = keys[start : start + GET_MANY_BATCH]
            rows = await self._script(GET_MANY, [_name(namespace, k) for k in batch], [])
            found.update((batch[int(i) - 1], self._entry(v, pttl)) for i, v, pttl in rows)
        return found

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    def _entry(self, value: str, pttl: int) -> StateEntry:
        return StateEntry(value, None if int(pttl) < 0 else self.clock() + int(pttl) / 1000)

    async def _script(self, source: str, keys: list[str], args: list[str]) -> Any:
        def run(client: Any) -> Awaitable[Any]:
            script = self._scripts.get(source)
            if script is None:
                script = self._scripts[source] = client.register_script(source)
            return script(keys=keys, args=args)

        return await self._call(run)

    async def _call(self, operation: Callable[[Any], Awaitable[Any]]) -> Any:
        """The operation's reply. Errors name Redis by host:port, never by its password:
        unreachable is a retryable ConnectionFailed; refused credentials, AuthFailed; any other
        error Redis answers (a key of another type, …) a ``state`` error."""
        try:
            import redis.asyncio
            import redis.exceptions
        except ImportError:
            raise ConfigError(
                "state: keys in Redis need redis-py: install weir with the 'redis' extra"
            ) from None
        if self._client is None:
            # A Redis that hangs fails the node (retryably) rather than hold it; the URL's own
            # ?socket_timeout=… wins.
            self._client = redis.asyncio.Redis.from_url(
                self.url,
                decode_responses=True,
                socket_connect_timeout=CONNECT_TIMEOUT,
                socket_timeout=REPLY_TIMEOUT,
            )
        try:
            return await operation(self._client)
        except redis.exceptions.AuthenticationError as exc:
            raise AuthFailed(f"state: Redis at {self.location}: {exc}") from None
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise ConnectionFailed(f"state: Redis at {self.location}: {exc}") from None
        except redis.exceptions.ResponseError as exc:
            raise NodeError(f"state: Redis at {self.location}: {exc}", type="state") from None


def _name(namespace: str, key: str) -> str:
    return f"{PREFIX}{namespace}:{key}"


def _ms(ttl: float | None) -> int | None:
    """A TTL in whole milliseconds, at least 1 (Redis refuses 0)."""
    return None if ttl is None else max(1, round(ttl * 1000))
