"""Acting through the console: a manual run with input, a replay of a failed execution with a
patched input (in full and from a node), a cancel that stops a running execution within a second,
and the refusals a client can act on."""

from __future__ import annotations

import time

from tests.console.client import BOTH_STORES, EMPTY_ORDER, GOOD_ORDER, Api


async def test_a_manual_run_with_input(api: Api) -> None:
    execution_id = await api.run("hello", {"name": "Ada"})
    view = await api.finished(execution_id)
    assert view["execution"]["status"] == "succeeded"
    assert view["execution"]["triggerKind"] == "manual"
    assert view["execution"]["result"] == {"greeting": "Hello, Ada!"}


@BOTH_STORES
async def test_a_replay_with_a_patched_input_succeeds_where_the_original_failed(api: Api) -> None:
    original = await api.run("code-example", EMPTY_ORDER)
    failed = await api.finished(original)
    assert failed["execution"]["status"] == "failed"
    assert "has no lines" in failed["execution"]["errorMessage"]

    accepted = await api.post(
        f"/api/v1/executions/{original}/replay", {"input": GOOD_ORDER}, expect=202
    )
    assert accepted["replayOf"] == original and accepted["id"] != original
    replayed = await api.finished(accepted["id"])
    assert replayed["execution"]["status"] == "succeeded"
    assert replayed["execution"]["replayOf"] == original
    assert replayed["execution"]["trigger"]["payload"] == GOOD_ORDER
    assert replayed["execution"]["result"]["total"] == 19.0
    # The original is as it was; the replay is listed as one of its replays.
    assert (await api.finished(original))["execution"]["status"] == "failed"
    listed = await api.get(f"/api/v1/executions?replayOf={original}")
    assert [row["id"] for row in listed["items"]] == [accepted["id"]]


async def test_a_replay_from_a_node_runs_only_that_node_on(api: Api) -> None:
    original = await api.run("code-example", EMPTY_ORDER)
    await api.finished(original)
    accepted = await api.post(
        f"/api/v1/executions/{original}/replay",
        {"from": "summarise", "input": GOOD_ORDER},
        expect=202,
    )
    replayed = await api.finished(accepted["id"])
    assert replayed["execution"]["status"] == "succeeded"
    assert [node["node"] for node in replayed["nodes"]] == ["summarise"]


async def test_a_replay_without_patches_runs_the_recorded_input_again(api: Api) -> None:
    original = await api.run("hello", {"name": "Grace"})
    await api.finished(original)
    accepted = await api.post(f"/api/v1/executions/{original}/replay", expect=202)
    replayed = await api.finished(accepted["id"])
    assert replayed["execution"]["result"] == {"greeting": "Hello, Grace!"}


@BOTH_STORES
async def test_cancel_stops_a_running_execution_within_a_second(api: Api) -> None:
    execution_id = await api.run("slow", {"ms": 30_000})
    running = await api.get(f"/api/v1/executions/{execution_id}")
    assert running["execution"]["status"] == "running"

    asked = time.monotonic()
    answer = await api.post(f"/api/v1/executions/{execution_id}/cancel", expect=202)
    assert answer == {"id": execution_id, "status": "cancelling"}
    view = await api.finished(execution_id, timeout=5)
    took = time.monotonic() - asked
    assert view["execution"]["status"] == "cancelled"
    assert took < 1.0, f"cancel took {took:.2f}s"
    again = await api.post(f"/api/v1/executions/{execution_id}/cancel", expect=409)
    assert "not running" in again["detail"]


async def test_refusals_a_client_can_act_on(api: Api) -> None:
    done = await api.run("hello", {"name": "Ada"})
    await api.finished(done)
    unknown_flow = await api.post("/api/v1/flows/nope/runs", {"input": {}}, expect=404)
    assert "nope" in unknown_flow["detail"]
    await api.post("/api/v1/executions/01NOSUCHID/replay", {}, expect=404)
    await api.post("/api/v1/executions/01NOSUCHID/cancel", expect=404)
    no_from = await api.post(
        f"/api/v1/executions/{done}/replay", {"outputs": {"greet": {}}}, expect=400
    )
    assert "body.from" in no_from["detail"]
    bad_node = await api.post(f"/api/v1/executions/{done}/replay", {"from": "nowhere"}, expect=409)
    assert "nowhere" in bad_node["detail"]
    typo = await api.post(f"/api/v1/executions/{done}/replay", {"form": "greet"}, expect=400)
    assert "body.form" in typo["detail"]
    not_json = await api.call("POST", "/api/v1/flows/hello/runs", data=b"{nope", expect=400)
    assert "not valid JSON" in not_json["detail"]
