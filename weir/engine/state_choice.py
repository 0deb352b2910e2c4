"""Where the state node's keys live: in the execution store's database, or in Redis when a URL
is given (``--state``, ``$WEIR_STATE_URL``): one place for `weir run`, `weir serve` and the
console's local runs to choose."""

from __future__ import annotations

import os

from weir.engine.executor import Engine
from weir.store.state_redis import RedisStateStore, check_redis_url

STATE_URL_ENV = "WEIR_STATE_URL"
STATE_URL_FILE_ENV = "WEIR_STATE_URL_FILE"
"""A file holding the URL: a mounted Secret's key, for a URL with a password in a cluster."""


def state_url(option: str | None) -> str | None:
    """The ``--state`` URL, else ``$WEIR_STATE_URL``, else the contents of the file named by
    ``$WEIR_STATE_URL_FILE``, else None (the execution store keeps the keys); ValueError naming
    what is wrong with a URL given."""
    url = option or os.environ.get(STATE_URL_ENV) or _from_file(os.environ.get(STATE_URL_FILE_ENV))
    if url is not None:
        check_redis_url(url)
    return url


def _from_file(path: str | None) -> str | None:
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as file:
            return file.read().strip() or None
    except OSError as exc:
        raise ValueError(f"{STATE_URL_FILE_ENV} {path}: {exc.strerror}") from None


def use_state(engine: Engine, url: str | None) -> None:
    """With a URL the engine's state nodes and polling triggers keep their keys in Redis (its
    client closes with the engine); without one they stay in the execution store."""
    if url is None:
        return
    redis = RedisStateStore(url, namespace=os.environ.get("WEIR_NAMESPACE", ""))
    engine.state = engine.resources.get(("state", url), lambda: redis, close=_close)


def _close(store: RedisStateStore) -> object:
    return store.aclose()
