"""Durable executions in the engine: a node that suspends parks its execution (recorded
``waiting``, its wait in the store), other branches go on, and a resume continues the same
execution from its records — joins, scope, node-run numbering — with the wait's outcome:
an output, an error (onError), a timeout (onTimeout). Parked executions hold no task."""

from __future__ import annotations

import asyncio
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from tests.runner import kinds  # noqa: F401 - registers test.boom
from weir.engine.events import ExecutionResult, TriggerEvent
from weir.engine.executor import Engine
from weir.engine.metrics import RunnerMetrics
from weir.engine.resume import WaitOutcome, outcome_of, resumed_execution
from weir.engine.service import FlowService
from weir.engine.waker import Waker
from weir.flow.load import CompiledFlow, load_flows_text
from weir.lang.types import Strict
from weir.nodes.context import NodeContext
from weir.nodes.extension import register_extension
from weir.nodes.kind import NodeKind
from weir.nodes.suspend import Suspend, WaitRequest
from weir.store import open_store
from weir.store.records import Status
from weir.store.sql import SqlExecutionStore
from weir.store.waits import Wait


class AskConfig(Strict):
    due_in: float | None = None
    onTimeout: list[str] | None = None


async def ask(config: AskConfig, ctx: NodeContext) -> Any:
    due = None if config.due_in is None else time.time() + config.due_in
    details = {"onTimeout": config.onTimeout} if config.onTimeout else {}
    raise Suspend(WaitRequest("human", due_at=due, details=details, public={"url": "/x"}))


register_extension(NodeKind("test.ask", AskConfig, ask, "waits for a person"))


def flow(nodes: str, name: str = "t") -> CompiledFlow:
    return load_flows_text(flow_text(nodes, name))[0]


def flow_text(nodes: str, name: str = "t") -> str:
    return (
        f"apiVersion: weir.dev/v1alpha1\nkind: Flow\nmetadata: {{name: {name}}}\nspec:\n"
        "  trigger: {manual: {}}\n  nodes:\n" + textwrap.indent(textwrap.dedent(nodes), "    ")
    )


ASK = '{"kind": "test.ask", "config": {}}'


@pytest.fixture
async def store(tmp_path: Path) -> Any:
    opened = open_store(f"sqlite:///{tmp_path}/store.db")
    await opened.start()
    yield opened
    await opened.aclose()


@pytest.fixture
async def engine(store: SqlExecutionStore) -> Any:
    made = Engine(store=store)
    yield made
    await made.resources.aclose()


async def run(engine: Engine, compiled: CompiledFlow, payload: Any = None) -> ExecutionResult:
    result = await engine.execute(compiled, TriggerEvent(payload=payload))
    assert engine.store is not None
    await engine.store.flush()
    return result


async def resume(
    engine: Engine, compiled: CompiledFlow, execution_id: str, result: Any = None
) -> ExecutionResult:
    """Claim the execution's open wait (resolving it first with ``result``) and resume it."""
    store: SqlExecutionStore = engine.store  # type: ignore[assignment]
    waits = store.waits()
    [wait] = [w for w in await waits.of_execution(execution_id) if w.state == "pending"]
    if result is not None:
        await waits.resolve(result, "test", wait_id=wait.id)
    claimed = await waits.claim(wait.id, execution_id)
    assert claimed is not None, "the wait is not due"
    execution = await resumed_execution(engine, compiled, claimed)
    done = await execution.run()
    await store.flush()
    return done


async def stored(store: SqlExecutionStore, execution_id: str) -> tuple[Any, list[Any]]:
    found = await store.get_execution(execution_id)
    assert found is not None
    return found


async def test_a_sleep_parks_and_resumes_the_same_execution(engine: Engine) -> None:
    compiled = flow("""\
        - name: nap
          sleep: {for: 200ms}
          next: done
        - name: done
          transform:
            set: {until: "$.nodes.nap.sleptUntil", who: "$.input.who"}
    """)
    parked = await run(engine, compiled, {"who": "ana"})
    assert parked.status == Status.WAITING and parked.result is None
    record, nodes = await stored(engine.store, parked.id)  # type: ignore[arg-type]
    assert record.status == Status.WAITING and record.finished_at is None
    assert [(n.seq, n.node, n.status) for n in nodes] == [(1, "nap", "waiting")]
    assert nodes[0].output["kind"] == "timer" and nodes[0].output["waitId"]
    await asyncio.sleep(0.25)
    done = await resume(engine, compiled, parked.id)
    assert done.status == Status.SUCCEEDED and done.id == parked.id
    assert done.result["who"] == "ana"
    assert done.result["until"].endswith("Z")
    record, nodes = await stored(engine.store, parked.id)  # type: ignore[arg-type]
    assert record.status == Status.SUCCEEDED and record.started_at == parked.started_at
    assert [(n.seq, n.node, n.status) for n in nodes] == [
        (1, "nap", "succeeded"),
        (2, "done", "succeeded"),
    ]
    [wait] = await engine.store.waits().of_execution(parked.id)  # type: ignore[union-attr]
    assert wait.state == "resumed"


async def test_other_branches_run_on_and_the_join_waits_for_the_parked_one(
    engine: Engine,
) -> None:
    compiled = flow(f"""\
        - name: start
          transform: {{set: {{n: 1}}}}
          next: [ask, quick]
        - name: ask
          extension: {ASK}
          next: join
        - name: quick
          transform: {{set: {{q: 2}}}}
          next: join
        - name: join
          transform:
            set: {{answer: "$.nodes.ask.answer", q: "$.nodes.quick.q"}}
    """)
    parked = await run(engine, compiled)
    assert parked.status == Status.WAITING
    assert sorted(n.node for n in parked.nodes) == ["ask", "quick", "start"]
    done = await resume(engine, compiled, parked.id, {"output": {"answer": "yes"}})
    assert done.status == Status.SUCCEEDED
    assert done.result == {"answer": "yes", "q": 2}
    assert [n.node for n in done.nodes][-1] == "join"
    assert [n.seq for n in done.nodes] == [1, 2, 3, 4]


async def test_a_resolved_error_takes_on_error_or_fails_the_execution(engine: Engine) -> None:
    handled = flow(f"""\
        - name: ask
          extension: {ASK}
          onError: fallback
        - name: fallback
          transform: {{set: {{why: "$.error.message", node: "$.error.node"}}}}
    """)
    parked = await run(engine, handled)
    done = await resume(engine, handled, parked.id, {"error": {"message": "refused"}})
    assert done.status == Status.SUCCEEDED
    assert done.result == {"why": "refused", "node": "ask"}
    assert done.nodes[0].status == Status.FAILED

    unhandled = flow(f"- name: ask\n  extension: {ASK}\n")
    parked = await run(engine, unhandled)
    done = await resume(engine, unhandled, parked.id, {"error": {"message": "no", "type": "x"}})
    assert done.status == Status.FAILED
    assert done.error is not None and done.error["node"] == "ask" and done.error["type"] == "x"


async def test_a_person_who_never_answers_takes_on_timeout(engine: Engine) -> None:
    compiled = flow("""\
        - name: ask
          extension: {"kind": "test.ask", "config": {"due_in": 0.05, "onTimeout": ["late"]}}
          next: approved
          onError: late  # an edge to it: onTimeout targets are the graph's edges too
        - name: approved
          transform: {set: {ok: true}}
        - name: late
          transform: {set: {ok: false}}
    """)
    parked = await run(engine, compiled)
    await asyncio.sleep(0.1)
    done = await resume(engine, compiled, parked.id)
    assert done.status == Status.SUCCEEDED and done.result == {"ok": False}
    [wait] = await engine.store.waits().of_execution(parked.id)  # type: ignore[union-attr]
    assert wait.state == "timed_out"


def test_outcomes_of_waits() -> None:
    def wait(kind: str, result: Any = None, **details: Any) -> Wait:
        return Wait("w", "e", "n", 1, kind, "claimed", 1.0, details, None, None, result, None,
                    None, 1, 0.0, 0.0)  # fmt: skip

    assert outcome_of(wait("timer", output={"sleptUntil": "x"})) == WaitOutcome(
        output={"sleptUntil": "x"}
    )
    assert outcome_of(wait("human", {"output": 3})).output == 3
    assert outcome_of(wait("child", {"error": "boom"})).error == {
        "type": "error",
        "message": "boom",
    }
    timed_out = outcome_of(wait("human"))
    assert timed_out.ending == "timed_out" and timed_out.error is not None
    assert timed_out.error["type"] == "timeout"


async def test_a_failure_elsewhere_fails_the_execution_and_voids_its_waits(
    engine: Engine,
) -> None:
    compiled = flow(f"""\
        - name: start
          transform: {{set: {{}}}}
          next: [ask, quick]
        - name: ask
          extension: {ASK}
        - name: quick
          transform: {{set: {{}}}}
          next: bad
        - name: bad
          extension: {{"kind": "test.boom", "config": {{"value": 1}}}}
    """)
    result = await run(engine, compiled)
    assert result.status == Status.FAILED
    waits = await engine.store.waits().of_execution(result.id)  # type: ignore[union-attr]
    assert [w.state for w in waits] == ["cancelled"]
    _, nodes = await stored(engine.store, result.id)  # type: ignore[arg-type]
    assert {n.node: n.status for n in nodes}["ask"] == Status.CANCELLED


async def test_a_revision_without_the_parked_node_fails_naming_it(engine: Engine) -> None:
    compiled = flow(f"- name: ask\n  extension: {ASK}\n")
    parked = await run(engine, compiled)
    changed = flow("- name: other\n  transform: {set: {}}\n")
    done = await resume(engine, changed, parked.id, {"output": 1})
    assert done.status == Status.FAILED
    assert done.error is not None and "'ask'" in done.error["message"]


async def test_without_a_store_a_sleep_sleeps_in_process_and_other_waits_fail() -> None:
    engine = Engine()
    try:
        began = time.monotonic()
        nap = flow("- name: nap\n  sleep: {for: 150ms}\n")
        result = await engine.execute(nap, TriggerEvent())
        assert result.status == Status.SUCCEEDED and time.monotonic() - began >= 0.14
        result = await engine.execute(flow(f"- name: ask\n  extension: {ASK}\n"), TriggerEvent())
        assert result.status == Status.FAILED
        assert result.error is not None and "execution store" in result.error["message"]
    finally:
        await engine.aclose()


async def test_a_sleep_in_the_past_or_of_zero_continues_at_once(engine: Engine) -> None:
    compiled = flow("""\
        - name: a
          sleep: {for: 0s}
          next: b
        - name: b
          sleep: {until: "$.input.at"}
    """)
    result = await run(engine, compiled, {"at": "2020-01-01T00:00:00Z"})
    assert result.status == Status.SUCCEEDED
    assert result.result == {"sleptUntil": "2020-01-01T00:00:00Z"}


async def test_sleep_until_refuses_a_time_without_a_zone(engine: Engine) -> None:
    compiled = flow('- name: b\n  sleep: {until: "$.input.at"}\n')
    result = await run(engine, compiled, {"at": "2030-01-01T00:00:00"})
    assert result.status == Status.FAILED
    assert result.error is not None and "time zone" in result.error["message"]


async def test_a_wait_under_for_each_fails_the_node(engine: Engine) -> None:
    compiled = flow("""\
        - name: each
          forEach: {items: "$.input.list"}
          sleep: {for: 1h}
    """)
    result = await run(engine, compiled, {"list": [1, 2]})
    assert result.status == Status.FAILED
    assert result.error is not None and "forEach" in result.error["message"]


async def test_a_thousand_parked_executions_hold_no_task(engine: Engine) -> None:
    compiled = flow("- name: nap\n  sleep: {for: 1h}\n")
    before = len(asyncio.all_tasks())
    results = [await engine.execute(compiled, TriggerEvent()) for _ in range(1000)]
    assert {r.status for r in results} == {Status.WAITING}
    await engine.store.flush()  # type: ignore[union-attr]
    assert len(asyncio.all_tasks()) <= before
    waker = Waker(engine.store.waits(), lambda wait: asyncio.sleep(0))  # type: ignore[union-attr]
    waker.start()
    await waker.look()
    assert len(asyncio.all_tasks()) <= before + 1  # the waker's own, and nothing per execution
    await waker.stop()
    assert await engine.store.waits().count_waiting() == 1000  # type: ignore[union-attr]


async def test_a_service_with_a_waker_resumes_its_flow(tmp_path: Path) -> None:
    file = tmp_path / "nap.yaml"
    file.write_text(flow_text("- name: nap\n  sleep: {for: 300ms}\n", name="nap"))
    store = open_store(f"sqlite:///{tmp_path}/store.db")
    await store.start()
    metrics = RunnerMetrics()
    engine = Engine(store=store, listeners=[metrics])
    service = FlowService(file, engine, metrics)
    waker = Waker(store.waits(), service.resume, flows=lambda: [service.name], poll=0.1)
    waker.start()
    try:
        parked = await service.execute(TriggerEvent())
        assert parked.status == Status.WAITING
        for _ in range(50):
            await asyncio.sleep(0.1)
            found = await store.get_execution(parked.id)
            if found is not None and found[0].status == Status.SUCCEEDED:
                break
        assert found is not None and found[0].status == Status.SUCCEEDED
        assert waker.resumed == 1
        exposed = metrics.exposition().decode()
        assert 'weir_waits_resumed_total{flow="nap",kind="timer"} 1.0' in exposed
        assert 'weir_executions_total{flow="nap",status="succeeded"} 1.0' in exposed
        assert 'status="waiting"' not in exposed
    finally:
        await waker.stop()
        await service.drain(5)
        await engine.aclose()
