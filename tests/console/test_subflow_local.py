"""Subflows in a local console: a run's subflow node calls a flow among the console's files,
the console's waker resumes the parent once the child ended; a cancel of the parent spreads
down to the child it waits on; a cancelled child fails only the parent's node; a run started
through the API with ``parent`` names it in ``$.trigger.parent``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.console.client import Api, api_for
from tests.console.test_waiting import status_of
from weir.console.server import ConsoleOptions, ConsoleServer


def flow(name: str, nodes: str) -> str:
    return (
        f"apiVersion: weir.dev/v1alpha1\nkind: Flow\nmetadata: {{name: {name}}}\nspec:\n"
        f"  trigger: {{manual: {{}}}}\n  nodes:\n{nodes}"
    )


FLOWS = {
    "napper": flow(
        "napper",
        "    - {name: nap, sleep: {for: 300ms}, next: done}\n"
        "    - {name: done, transform: {set: {got: $.input.n, parent: $.trigger.parent}}}\n",
    ),
    "sleeper": flow("sleeper", "    - {name: nap, sleep: {for: 1h}}\n"),
    "caller": flow(
        "caller",
        "    - {name: call, subflow: {flow: napper, input: {n: $.input.n}}, next: done}\n"
        "    - {name: done, transform: {set: {got: $.nodes.call.result.got}}}\n",
    ),
    "waiter": flow(
        "waiter",
        "    - {name: call, subflow: {flow: sleeper}, onError: [note]}\n"
        "    - {name: note, transform: {set: {type: $.error.type}}}\n",
    ),
}


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    flows = tmp_path / "flows"
    flows.mkdir()
    for name, text in FLOWS.items():
        (flows / f"{name}.yaml").write_text(text)
    options = ConsoleOptions(
        paths=[str(flows)],
        store=f"sqlite:///{tmp_path}/console.db",
        port=0,
        retain_days=0,
        retain_per_flow=0,
        grace=2,
    )
    server = ConsoleServer(options)
    await server.start()
    try:
        async for made in api_for(server):
            yield made
    finally:
        await server.stop()


async def child_of(api: Api, execution_id: str) -> str:
    view = await status_of(api, execution_id, "waiting")
    call = await api.get(f"/api/v1/executions/{execution_id}/nodes/{view['nodes'][0]['seq']}")
    assert call["status"] == "waiting" and call["output"]["kind"] == "child"
    return str(call["output"]["childExecutionId"])


async def test_a_local_run_calls_a_child_and_resumes_when_it_ends(api: Api) -> None:
    parent_id = await api.run("caller", {"n": 3})
    child_id = await child_of(api, parent_id)
    child = await status_of(api, child_id, "succeeded")
    assert child["execution"]["triggerKind"] == "subflow"
    assert child["execution"]["trigger"]["parent"]["executionId"] == parent_id
    done = await status_of(api, parent_id, "succeeded")
    assert done["execution"]["result"] == {"got": 3}


async def test_cancelling_a_parent_cancels_the_child_it_waits_on(api: Api) -> None:
    parent_id = await api.run("waiter", {})
    child_id = await child_of(api, parent_id)
    await status_of(api, child_id, "waiting")  # parked on its hour-long sleep
    await api.post(f"/api/v1/executions/{parent_id}/cancel", expect=202)
    assert (await api.get(f"/api/v1/executions/{parent_id}"))["execution"]["status"] == "cancelled"
    child = await status_of(api, child_id, "cancelled", timeout=5)
    assert [n["status"] for n in child["nodes"]] == ["cancelled"]


async def test_a_cancelled_child_fails_its_parents_node_not_the_parent(api: Api) -> None:
    parent_id = await api.run("waiter", {})
    child_id = await child_of(api, parent_id)
    await status_of(api, child_id, "waiting")
    await api.post(f"/api/v1/executions/{child_id}/cancel", expect=202)
    assert (await api.get(f"/api/v1/executions/{child_id}"))["execution"]["status"] == "cancelled"
    # Parked, it was cancelled in the store: the parent's wait learns it all the same, and
    # the parent's node fails `cancelled` and takes its onError (Kestra #12557).
    done = await status_of(api, parent_id, "succeeded", timeout=10)
    assert done["execution"]["result"] == {"type": "cancelled"}
    assert [(n["node"], n["status"]) for n in done["nodes"]] == [
        ("call", "failed"),
        ("note", "succeeded"),
    ]


async def test_a_run_started_with_a_parent_names_it(api: Api) -> None:
    parent = {"executionId": "01parent", "node": "call", "flow": "elsewhere", "depth": 2}
    started = await api.post(
        "/api/v1/flows/napper/runs", {"input": {"n": 1}, "parent": parent}, expect=202
    )
    done = await status_of(api, started["id"], "succeeded")
    assert done["execution"]["triggerKind"] == "subflow"
    assert done["execution"]["result"]["parent"] == parent
    await api.post("/api/v1/flows/napper/runs", {"parent": {"node": "call"}}, expect=400)
