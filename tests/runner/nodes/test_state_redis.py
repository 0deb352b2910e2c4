"""The state node with its keys in Redis (``--state``, ``$WEIR_STATE_URL``), against a real
redis-server: the example's counter across two `weir run`s, `weir serve` counting in Redis,
nothing written to the execution store's weir_state either way, a bad URL refused before
anything runs, and an unreachable Redis a retryable `connection` error naming host:port."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.runner.serving import Served
from tests.runner.test_serve import write_flow
from tests.servers.redis import RedisServer, redis_session
from tests.test_examples import weir
from weir.engine.executor import Engine, TriggerEvent
from weir.engine.state_choice import use_state
from weir.flow.load import load_flows_text

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = "examples/state-counter/flow.yaml"


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    yield from redis_session(tmp_path_factory)


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """An empty database of the server."""
    subprocess.run(
        ["redis-cli", "-p", str(redis_server.port), "-n", "2", "FLUSHDB"],
        check=True,
        capture_output=True,
    )
    return redis_server.url(2)


def counted(store: Path, name: str, *state: str, env: dict[str, str] | None = None) -> Any:
    done = weir("run", EXAMPLE, "-q", "--store", f"sqlite:///{store}", *state,
                "--input", json.dumps({"name": name}), env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def sql_state_rows(store: Path) -> list[Any]:
    with sqlite3.connect(store) as connection:
        return connection.execute("SELECT namespace, key FROM weir_state").fetchall()


def test_weir_run_counts_in_redis_and_not_in_the_store(tmp_path: Path, redis_url: str) -> None:
    store = tmp_path / "executions.db"
    first = counted(store, "Ada", "--state", redis_url)
    assert first == {"name": "Ada", "visits": 1, "previousVisitor": "nobody"}
    second = counted(store, "Ada", "--state", redis_url)
    assert second == {"name": "Ada", "visits": 2, "previousVisitor": "Ada"}
    assert sql_state_rows(store) == []
    # $WEIR_STATE_URL does the same, and another store sees the same keys.
    other = tmp_path / "other.db"
    third = counted(other, "Ada", env={"WEIR_STATE_URL": redis_url})
    assert third["visits"] == 3 and sql_state_rows(other) == []
    # The keys, as Redis holds them.
    keys = subprocess.run(
        ["redis-cli", "-u", redis_url, "--raw", "GET", "weir:state:flow:/state-counter:visits/Ada"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert keys.stdout.strip() == "3"


def test_a_bad_state_url_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    done = weir("run", EXAMPLE, "--no-store", "--state", "http://:pw@cache:6379/0",
                "--input", '{"name": "Ada"}')  # fmt: skip
    assert done.returncode == 2
    assert "state URL http://cache:6379/0: the scheme must be redis:// or rediss://" in done.stderr
    assert "pw" not in done.stderr
    served = weir("serve", EXAMPLE, "--no-store", env={"WEIR_STATE_URL": "redis://cache:x/0"})
    assert served.returncode == 2 and "the port must be a number" in served.stderr


async def test_an_unreachable_redis_is_a_retryable_connection_error() -> None:
    flow = load_flows_text(
        "apiVersion: weir.dev/v1alpha1\nkind: Flow\nmetadata: {name: down}\nspec:\n"
        "  trigger: {manual: {}}\n  nodes:\n"
        "    - name: count\n      state: {op: increment, key: n}\n"
    )[0]
    engine = Engine()
    use_state(engine, "redis://:hunter2@127.0.0.1:1/0")
    try:
        result = await engine.execute(flow, TriggerEvent(payload=None))
    finally:
        await engine.aclose()
    assert result.error is not None and result.error["type"] == "connection"
    assert "Redis at 127.0.0.1:1/0" in result.error["message"]
    assert "hunter2" not in json.dumps(result.error)


def test_weir_serve_counts_in_redis(tmp_path: Path, redis_url: str) -> None:
    flow = write_flow(
        tmp_path / "flow.yaml",
        "trigger: {rest: {path: /hit, methods: [POST]}}",
        """
        - name: count
          state: {op: increment, key: hits, ttl: 1h}
          next: answer
        - name: answer
          transform: {set: {hits: $.nodes.count.value}}
        """,
    )
    store = tmp_path / "s.db"
    with Served(flow, "--store", f"sqlite:///{store}", "--state", redis_url) as served:
        hits = [httpx.post(served.url + "/hit", json={}).json()["hits"] for _ in range(2)]
    assert hits == [1, 2]
    assert sql_state_rows(store) == []


def test_the_url_can_come_from_a_file_as_a_mounted_secret_gives_it(
    tmp_path: Path, redis_url: str
) -> None:
    secret = tmp_path / "url"
    secret.write_text(redis_url + "\n")
    store = tmp_path / "executions.db"
    env = {"WEIR_STATE_URL_FILE": str(secret)}
    assert counted(store, "Bob", env=env)["visits"] == 1
    assert counted(store, "Bob", env=env)["visits"] == 2
    assert sql_state_rows(store) == []
    missing = weir("run", EXAMPLE, "--no-store", "--input", '{"name": "A"}',
                   env={"WEIR_STATE_URL_FILE": str(tmp_path / "none")})  # fmt: skip
    assert missing.returncode == 2
    assert f"WEIR_STATE_URL_FILE {tmp_path / 'none'}: No such file" in missing.stderr
