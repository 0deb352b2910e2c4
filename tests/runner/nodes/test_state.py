"""The state node in flows, on a SQLite and a PostgreSQL execution store: its outputs, flow and
shared scopes kept apart, its errors (each naming what is wrong), its config checks, and the
example's counter persisting across two `weir run`s."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.flow.test_validation import flow_with, issues_of
from weir.engine.executor import Engine, ExecutionResult, TriggerEvent
from weir.flow.load import CompiledFlow, load_flows_text
from weir.lang.errors import ConfigError
from weir.lang.times import epoch
from weir.nodes.context import NodeContext
from weir.nodes.state import StateConfig, run
from weir.store import open_store

ROOT = Path(__file__).resolve().parents[3]
WEIR_RUN = [sys.executable, "-m", "weir.cli", "run", "examples/state-counter/flow.yaml", "-q"]


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Engine]:
    if request.param == "postgresql":
        store = open_store(request.getfixturevalue("fresh_postgres_url"))
    else:
        store = open_store(f"sqlite:///{tmp_path}/store.db")
    await store.start()
    engine = Engine(store=store)
    yield engine
    await engine.aclose()


def flow(name: str, nodes: str) -> CompiledFlow:
    text = (
        f"apiVersion: weir.dev/v1alpha1\nkind: Flow\nmetadata: {{name: {name}}}\nspec:\n"
        "  trigger: {manual: {}}\n  nodes:\n" + textwrap.indent(textwrap.dedent(nodes), "    ")
    )
    return load_flows_text(text)[0]


async def execute(engine: Engine, compiled: CompiledFlow, payload: Any = None) -> ExecutionResult:
    return await engine.execute(compiled, TriggerEvent(payload=payload))


def outputs(result: ExecutionResult) -> dict[str, Any]:
    assert result.status == "succeeded", result.error
    return {record.node: record.output for record in result.nodes}


COUNTERS = """\
- name: mine
  state: {op: increment, key: runs}
  next: ours
- name: ours
  state: {op: increment, key: runs, scope: shared, by: 10}
"""


async def test_get_set_and_delete_give_their_outputs(engine: Engine) -> None:
    compiled = flow(
        "kv",
        """\
        - name: before
          state: {op: get, key: "user/${input.id}", default: {visits: 0}}
          next: write
        - name: write
          state: {op: set, key: "user/${input.id}", value: {visits: 1, name: $.input.name}}
          next: after
        - name: after
          state: {op: get, key: "user/${input.id}"}
          next: remove
        - name: remove
          state: {op: delete, key: "user/${input.id}"}
          next: again
        - name: again
          state: {op: delete, key: "user/${input.id}"}
        """,
    )
    found = outputs(await execute(engine, compiled, {"id": 7, "name": "Ada"}))
    assert found == {
        "before": {"found": False, "value": {"visits": 0}, "expiresAt": None},
        "write": {"key": "user/7", "value": {"visits": 1, "name": "Ada"}, "expiresAt": None},
        "after": {"found": True, "value": {"visits": 1, "name": "Ada"}, "expiresAt": None},
        "remove": {"key": "user/7", "deleted": True},
        "again": {"key": "user/7", "deleted": False},
    }


async def test_a_ttl_shows_as_the_time_the_key_expires(engine: Engine) -> None:
    compiled = flow("ttl", "- name: write\n  state: {op: set, key: k, value: 1, ttl: 1h}\n")
    before = time.time()
    (record,) = (await execute(engine, compiled)).nodes
    expires = epoch(record.output["expiresAt"])
    assert expires is not None and before + 3599 <= expires <= time.time() + 3600


async def test_flow_keys_are_the_flows_own_and_shared_keys_are_everyones(engine: Engine) -> None:
    first, second = flow("first", COUNTERS), flow("second", COUNTERS)
    await execute(engine, first)
    assert outputs(await execute(engine, first))["mine"]["value"] == 2
    found = outputs(await execute(engine, second))
    assert found["mine"]["value"] == 1
    assert found["ours"]["value"] == 30


async def test_increment_of_a_text_names_the_key_and_what_it_holds(engine: Engine) -> None:
    compiled = flow(
        "typed",
        """\
        - name: write
          state: {op: set, key: greeting, value: hello}
          next: add
        - name: add
          state: {op: increment, key: greeting}
        """,
    )
    result = await execute(engine, compiled)
    assert result.error is not None
    assert result.error["type"] == "state" and result.error["node"] == "add"
    assert result.error["message"] == "state increment: key 'greeting' holds a string, not a number"


async def test_an_empty_key_and_a_text_by_are_config_errors(engine: Engine) -> None:
    empty = flow("empty", '- name: a\n  state: {op: get, key: "${input.k}"}\n')
    result = await execute(engine, empty, {"k": ""})
    assert result.error is not None
    assert (result.error["type"], result.error["message"]) == ("config", "state: the key is empty")
    by_text = flow("bytext", "- name: a\n  state: {op: increment, key: k, by: $.input}\n")
    result = await execute(engine, by_text, "2")
    assert result.error is not None and result.error["type"] == "config"
    assert result.error["message"] == "state increment: by must be a number, got str"


async def test_a_value_that_is_not_json_is_refused_by_key(
    engine: Engine, make_ctx: Callable[..., NodeContext]
) -> None:
    ctx = make_ctx(scope={"input": {"x": float("nan")}})
    ctx.state = engine.state
    config = StateConfig.model_validate({"op": "set", "key": "k", "value": "$.input.x"})
    with pytest.raises(ConfigError, match=r"^state set: the value for key 'k' is not JSON: "):
        await run(config, ctx)


async def test_without_a_store_the_node_says_so() -> None:
    engine = Engine()
    try:
        result = await execute(engine, flow("nostore", COUNTERS))
    finally:
        await engine.aclose()
    assert result.error is not None
    assert result.error["type"] == "config"
    assert result.error["message"] == "state: no execution store configured"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("{op: get, key: k, value: 1}", "value is not used by op get"),
        ("{op: set, key: k}", "op set needs a value"),
        ("{op: delete, key: k, ttl: 1m}", "ttl is not used by op delete"),
        ("{op: set, key: k, value: 1, ttl: 0s}", "ttl must be more than 0"),
        ("{op: incr, key: k}", "Input should be 'get', 'set', 'increment' or 'delete'"),
        ("{op: get, key: k, scope: global}", "Input should be 'flow' or 'shared'"),
    ],
)
def test_a_config_that_cannot_work_is_refused_when_loaded(config: str, message: str) -> None:
    found = issues_of(flow_with(f"- name: a\n  state: {config}\n"))
    assert any(message in issue for issue in found), found


def weir_run(store: str, name: str) -> dict[str, Any]:
    done = subprocess.run(
        [*WEIR_RUN, "--store", store, "--input", json.dumps({"name": name})],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_the_example_counts_across_executions_of_weir_run(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/executions.db"
    assert weir_run(store, "Ada") == {"name": "Ada", "visits": 1, "previousVisitor": "nobody"}
    assert weir_run(store, "Ada") == {"name": "Ada", "visits": 2, "previousVisitor": "Ada"}
    assert weir_run(store, "Bob") == {"name": "Bob", "visits": 1, "previousVisitor": "Ada"}
