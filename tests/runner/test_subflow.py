"""The subflow node on one engine and store (what `weir run`, `weir serve` and a local
console do): the parent parks on a child wait that the child's final record batch resolves,
whichever happens first; errors, cancels and timeouts of the child fail the parent's node;
fire and forget; a depth limit; a cancel spreads down, never up."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.runner import kinds  # noqa: F401 - registers test.sleep
from weir.engine.children import LocalChildren, install_children, next_to
from weir.engine.events import ExecutionListener, ExecutionResult, TriggerEvent
from weir.engine.execution import Execution
from weir.engine.executor import Engine
from weir.engine.resume import resumed_execution
from weir.engine.waker import Waker
from weir.flow.load import CompiledFlow, load_flow_file
from weir.nodes.child_flows import ChildCall
from weir.store import open_store
from weir.store.records import ExecutionRecord, Status
from weir.store.sql import SqlExecutionStore
from weir.store.waits import Wait


def install_local_children(engine: Engine, flow_file: str | Path | None) -> LocalChildren:
    """The engine's subflow nodes start flows found next to ``flow_file``, in this process."""
    return install_children(LocalChildren(engine, next_to(flow_file)))


def write_flow(directory: Path, name: str, nodes: str, file: str | None = None) -> Path:
    path = directory / (file or f"{name}.yaml")
    path.write_text(
        f"apiVersion: weir.dev/v1alpha1\nkind: Flow\nmetadata: {{name: {name}}}\nspec:\n"
        "  trigger: {manual: {}}\n  nodes:\n" + textwrap.indent(textwrap.dedent(nodes), "    ")
    )
    return path


CHILD = """\
- name: double
  transform:
    set:
      doubled: "${input.n * 2}"
      parent: "$.trigger.parent"
"""


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


async def run_here(children: LocalChildren, parent: CompiledFlow, payload: Any) -> ExecutionResult:
    result = await children.engine.execute(parent, TriggerEvent(payload=payload))
    result = await children.finish(parent, result)
    assert children.engine.store is not None
    await children.engine.store.flush()
    return result


async def records(store: SqlExecutionStore, execution_id: str) -> tuple[Any, list[Any]]:
    found = await store.get_execution(execution_id)
    assert found is not None
    return found


async def test_the_parent_waits_and_gets_the_childs_result(
    tmp_path: Path, engine: Engine, store: SqlExecutionStore
) -> None:
    write_flow(tmp_path, "child", CHILD)
    parent = load_flow_file(
        write_flow(
            tmp_path,
            "parent",
            """\
            - name: call
              subflow: {flow: child, input: {n: "$.input.n"}}
              next: done
            - name: done
              transform: {set: {doubled: "$.nodes.call.result.doubled"}}
            """,
        )
    )
    children = install_local_children(engine, parent.file)
    result = await run_here(children, parent, {"n": 21})
    assert result.status == Status.SUCCEEDED, result.error
    assert result.result == {"doubled": 42}
    _, nodes = await records(store, result.id)
    call = nodes[0]
    assert (call.node, call.status) == ("call", Status.SUCCEEDED)
    child_id = call.output["executionId"]
    assert call.output["status"] == "succeeded" and call.output["flow"] == "child"
    child, _ = await records(store, child_id)
    assert child.flow == "child" and child.status == Status.SUCCEEDED
    assert child.trigger_kind == "subflow"
    assert child.trigger["parent"]["executionId"] == result.id
    assert child.trigger["parent"]["node"] == "call"
    assert child.trigger["parent"]["flow"] == "parent"
    assert call.output["result"]["parent"]["depth"] == 1
    [wait] = await store.waits().of_execution(result.id)
    assert wait.kind == "child" and wait.state == "resumed"
    assert wait.resolved_by == f"child:{child_id}"


class ChildFirst(LocalChildren):
    """Lets the child run to its end and its records commit before the parent parks."""

    async def start(self, call: ChildCall) -> str:
        child_id = await super().start(call)
        await self.tasks[child_id]
        assert self.engine.store is not None
        await self.engine.store.flush()
        waits = await self._waits().of_execution(call.parent["executionId"])
        assert [w.state for w in waits] == ["resolved"]  # resolved before it exists as pending
        return child_id


async def test_a_child_that_ends_before_its_parent_parks_still_resumes_it(
    tmp_path: Path, engine: Engine, store: SqlExecutionStore
) -> None:
    """n8n PR #31736: a child that finished first stranded its parent. Here a waker (as in
    weir serve) finds the parked parent's wait resolved and resumes it."""
    from weir.engine.flow_finder import FlowFinder

    write_flow(tmp_path, "child", CHILD)
    parent = load_flow_file(
        write_flow(tmp_path, "parent", "- name: call\n  subflow: {flow: child, input: {n: 4}}\n")
    )
    finder = FlowFinder([tmp_path])

    async def find(name: str) -> CompiledFlow:
        return finder.find(name)

    install_children(ChildFirst(engine, find, in_process=False))
    parked = await engine.execute(parent, TriggerEvent())
    assert parked.status == Status.WAITING
    done: list[ExecutionResult] = []

    async def resume(wait: Wait) -> None:
        done.append(await (await resumed_execution(engine, parent, wait)).run())

    waker = Waker(store.waits(), resume, flows=lambda: ["parent"], poll=0.1)
    waker.start()
    try:
        for _ in range(100):
            if done:
                break
            await asyncio.sleep(0.05)
    finally:
        await waker.stop()
    assert [d.status for d in done] == [Status.SUCCEEDED]
    assert done[0].id == parked.id and done[0].result["result"]["doubled"] == 8
    assert waker.resumed == 1


async def test_a_failed_child_fails_the_node_and_the_parent_takes_on_error(
    tmp_path: Path, engine: Engine, store: SqlExecutionStore
) -> None:
    write_flow(tmp_path, "child", '- name: boom\n  transform: {set: {x: "${1 / 0}"}}\n')
    parent = load_flow_file(
        write_flow(
            tmp_path,
            "parent",
            """\
            - name: call
              subflow: {flow: child}
              onError: [handle]
            - name: handle
              transform: {set: {type: "$.error.type", child: "$.error.childExecutionId",
                                inner: "$.error.childError.message", msg: "$.error.message"}}
            """,
        )
    )
    children = install_local_children(engine, parent.file)
    result = await run_here(children, parent, {})
    assert result.status == Status.SUCCEEDED, result.error
    assert result.result["type"] == "subflow"
    assert "child flow 'child'" in result.result["msg"] and "failed" in result.result["msg"]
    child, _ = await records(store, result.result["child"])
    assert child.status == Status.FAILED
    assert result.result["inner"] == child.error["message"]


async def test_without_on_error_a_failed_child_fails_the_parent(
    tmp_path: Path, engine: Engine
) -> None:
    write_flow(tmp_path, "child", '- name: boom\n  transform: {set: {x: "${1 / 0}"}}\n')
    parent = load_flow_file(
        write_flow(tmp_path, "parent", "- name: call\n  subflow: {flow: child}\n")
    )
    children = install_local_children(engine, parent.file)
    result = await run_here(children, parent, {})
    assert result.status == Status.FAILED
    assert result.error is not None and result.error["type"] == "subflow"
    assert result.error["node"] == "call" and result.error["childError"]["node"] == "boom"


async def test_fire_and_forget_goes_on_at_once_with_the_childs_id(
    tmp_path: Path, engine: Engine, store: SqlExecutionStore
) -> None:
    write_flow(
        tmp_path,
        "child",
        "- name: slow\n  extension: {kind: test.sleep, config: {seconds: 0.3, value: 7}}\n",
    )
    parent = load_flow_file(
        write_flow(tmp_path, "parent", "- name: call\n  subflow: {flow: child, wait: false}\n")
    )
    children = install_local_children(engine, parent.file)
    result = await run_here(children, parent, {})
    assert result.status == Status.SUCCEEDED
    child_id = result.result["executionId"]
    assert result.result == {"executionId": child_id, "flow": "child"}
    assert child_id in children.tasks  # still running: the parent did not wait
    child = await children.tasks[child_id]
    assert child.status == Status.SUCCEEDED and child.result == 7
    await store.flush()
    record, _ = await records(store, child_id)
    assert record.trigger["parent"]["executionId"] == result.id
    assert "waitId" not in record.trigger["parent"]
    assert await store.waits().of_execution(result.id) == []


async def test_a_flow_calling_itself_stops_at_the_depth_limit(tmp_path: Path) -> None:
    looped = load_flow_file(
        write_flow(tmp_path, "looped", "- name: again\n  subflow: {flow: looped}\n")
    )
    engine = Engine()  # no store: each child runs inline in its parent's node
    install_local_children(engine, looped.file)
    result = await engine.execute(looped, TriggerEvent())
    assert result.status == Status.FAILED
    assert result.error is not None
    error = result.error
    for _ in range(10):  # ten nested children; each level wraps the failure below it
        assert error["type"] == "subflow"
        error = error["childError"]
    assert error["type"] == "config"
    assert "nest deeper than 10 flows" in error["message"]
    await engine.resources.aclose()


async def test_without_a_store_the_child_runs_inline(tmp_path: Path) -> None:
    write_flow(tmp_path, "child", CHILD)
    parent = load_flow_file(
        write_flow(tmp_path, "parent", "- name: call\n  subflow: {flow: child, input: {n: 5}}\n")
    )
    engine = Engine()
    install_local_children(engine, parent.file)
    result = await engine.execute(parent, TriggerEvent())
    assert result.status == Status.SUCCEEDED
    assert result.result["result"]["doubled"] == 10
    assert "waitId" not in result.result["result"]["parent"]


async def test_a_missing_flow_is_a_clear_node_error(tmp_path: Path, engine: Engine) -> None:
    parent = load_flow_file(
        write_flow(tmp_path, "parent", "- name: call\n  subflow: {flow: nope}\n")
    )
    install_local_children(engine, parent.file)
    result = await engine.execute(parent, TriggerEvent())
    assert result.status == Status.FAILED and result.error is not None
    assert result.error["type"] == "config"
    assert result.error["message"] == f"subflow: no flow named 'nope' in {tmp_path.resolve()}"


async def test_flows_are_found_in_weir_flows_path_too(
    tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "lib"
    elsewhere.mkdir()
    write_flow(elsewhere, "child", CHILD, file="flow.yaml")
    here = tmp_path / "app"
    here.mkdir()
    monkeypatch.setenv("WEIR_FLOWS_PATH", str(elsewhere))
    parent = load_flow_file(
        write_flow(here, "parent", "- name: call\n  subflow: {flow: child, input: {n: 1}}\n")
    )
    children = install_local_children(engine, parent.file)
    result = await run_here(children, parent, {})
    assert result.status == Status.SUCCEEDED and result.result["result"]["doubled"] == 2


async def test_a_child_past_its_timeout_fails_the_node_with_timeout(
    tmp_path: Path, engine: Engine
) -> None:
    write_flow(
        tmp_path, "child", "- name: slow\n  extension: {kind: test.sleep, config: {seconds: 5}}\n"
    )
    parent = load_flow_file(
        write_flow(
            tmp_path,
            "parent",
            "- name: call\n  subflow: {flow: child, timeout: 300ms}\n  onError: [late]\n"
            "- name: late\n  transform: {set: {type: $.error.type}}\n",
        )
    )
    children = install_local_children(engine, parent.file)
    result = await run_here(children, parent, {})
    assert result.status == Status.SUCCEEDED and result.result == {"type": "timeout"}
    await asyncio.sleep(0.05)
    assert children.tasks == {}  # the parent ended: the child it no longer waits on was cancelled


async def test_cancelling_the_parent_cancels_the_child_it_waits_on(
    tmp_path: Path, engine: Engine, store: SqlExecutionStore
) -> None:
    write_flow(tmp_path, "child", "- name: nap\n  sleep: {for: 30s}\n")
    parent = load_flow_file(
        write_flow(
            tmp_path,
            "parent",
            """\
            - name: fork
              transform: {set: {}}
              next: [call, slow]
            - name: call
              subflow: {flow: child}
            - name: slow
              extension: {kind: test.sleep, config: {seconds: 30}}
            """,
        )
    )
    children = install_local_children(engine, parent.file)
    execution = Execution(engine, parent, TriggerEvent(), "01parentcancelled0000000000", None)
    task = asyncio.get_running_loop().create_task(execution.run())
    for _ in range(500):
        await asyncio.sleep(0.02)
        if children.waited.get(execution.id):
            break
    [child_id] = children.waited[execution.id]
    await asyncio.sleep(0.1)  # the child parks on its sleep
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # A parked child is cancelled in the store by a task of its own: on a busy machine that
    # took longer than a fixed 0.1 s once.
    for _ in range(250):
        await store.flush()
        child, _ = await records(store, child_id)
        if child.status == Status.CANCELLED:
            break
        await asyncio.sleep(0.02)
    assert child.status == Status.CANCELLED
    record, _ = await records(store, execution.id)
    assert record.status == Status.CANCELLED


def parent_of_a_slow_child(directory: Path, nodes: str = "") -> CompiledFlow:
    """A parent whose node ``call`` runs a 30 s child and notes its error in ``note``;
    ``nodes`` come first (the first is where it starts)."""
    write_flow(
        directory, "child", "- name: slow\n  extension: {kind: test.sleep, config: {seconds: 30}}\n"
    )
    call = """\
        - name: call
          subflow: {flow: child}
          onError: [note]
        - name: note
          transform: {set: {type: "$.error.type"}}
        """
    return load_flow_file(
        write_flow(directory, "parent", textwrap.dedent(nodes) + textwrap.dedent(call))
    )


async def test_a_cancelled_child_fails_the_parents_node_not_its_other_branches(
    tmp_path: Path, engine: Engine, store: SqlExecutionStore
) -> None:
    fork = """\
        - name: fork
          transform: {set: {}}
          next: [call, other]
        - name: other
          extension: {kind: test.sleep, config: {seconds: 0.5, value: done}}
        """
    parent = parent_of_a_slow_child(tmp_path, fork)
    children = install_local_children(engine, parent.file)
    running = asyncio.get_running_loop().create_task(run_here(children, parent, {}))
    for _ in range(500):
        await asyncio.sleep(0.02)
        if children.tasks:
            break
    [child_id] = list(children.tasks)
    assert children.cancel(child_id)
    result = await running
    assert result.status == Status.SUCCEEDED, result.error
    _, nodes = await records(store, result.id)
    ended = {n.node: (n.status, n.output) for n in nodes}
    assert ended["call"][0] == Status.FAILED
    assert ended["note"] == (Status.SUCCEEDED, {"type": "cancelled"})
    assert ended["other"] == (Status.SUCCEEDED, "done")  # the other branch ran to its end
    child, _ = await records(store, child_id)
    assert child.status == Status.CANCELLED


async def test_a_child_cancelled_before_its_task_began_ends_cancelled_and_tells_its_parent(
    tmp_path: Path, engine: Engine, store: SqlExecutionStore
) -> None:
    # A task cancelled before its first step never runs its coroutine: the child stayed
    # `running` and its parent waited for ever (CI caught it once on a busy machine).
    parent = parent_of_a_slow_child(tmp_path)
    children = install_local_children(engine, parent.file)
    loop = asyncio.get_running_loop()
    started: list[str] = []

    class CancelAtOnce(ExecutionListener):
        def execution_started(self, record: ExecutionRecord) -> None:
            if record.trigger_kind == "subflow" and not started:
                started.append(record.id)
                # Runs before the child's first step, which `start` schedules after this.
                loop.call_soon(lambda: children.cancel(record.id))

    engine.listeners.append(CancelAtOnce())
    result = await asyncio.wait_for(run_here(children, parent, {}), 10)
    assert result.status == Status.SUCCEEDED, result.error
    _, nodes = await records(store, result.id)
    assert {n.node: n.status for n in nodes} == {"call": Status.FAILED, "note": Status.SUCCEEDED}
    child, child_nodes = await records(store, started[0])
    assert child.status == Status.CANCELLED
    assert child.error["type"] == "cancelled"
    assert child_nodes == []  # it never ran a node


def test_weir_validate_warns_of_a_subflow_whose_flow_is_not_found(tmp_path: Path) -> None:
    from tests.test_examples import weir

    write_flow(tmp_path, "child", CHILD)
    parent = write_flow(
        tmp_path,
        "parent",
        "- {name: call, subflow: {flow: child}, next: lost}\n"
        "- {name: lost, subflow: {flow: ghost}}\n",
    )
    done = weir("validate", str(parent))
    assert done.returncode == 0, done.stderr  # a warning: a console may know the flow
    assert done.stderr.strip() == (
        f"{parent}: warning: node 'lost' calls flow 'ghost', which is not in "
        f"{tmp_path.resolve()} (found at run time only through a console)"
    )
