"""The wait node: its config (onTimeout targets are graph edges, a bad JSON Schema is refused at
load), its versioned resume token (only the secret's hash stored), resolving by token in the
store (schema, 404, 409, 410), and a resume continuing the execution with the payload."""

from __future__ import annotations

import hashlib
import time

import pytest

from tests.runner.test_durable_engine import engine, flow, flow_text, resume, run, store
from weir.engine.events import TriggerEvent
from weir.engine.executor import Engine
from weir.engine.human_waits import PayloadRejected, WaitGone, resolve_token, wait_of_token
from weir.engine.resume import resumed_execution
from weir.flow.issues import FlowInvalid
from weir.flow.load import load_flows_text
from weir.nodes.wait_token import BadToken, Token, matches, new_token, parse_token
from weir.store.records import Status
from weir.store.waits import AlreadyResolved, UnknownWait

__all__ = ["engine", "store"]  # the fixtures

ASK = """\
- name: ask
  wait:
    message: "Approve ${input.item}?"
    timeout: 1h
    schema: {type: object, required: [approved], properties: {approved: {type: boolean}}}
    onTimeout: [late]
  next: done
- name: done
  transform: {set: {approved: "$.nodes.ask.approved"}}
- name: late
  log: {message: nobody answered}
"""


def test_on_timeout_targets_are_edges_of_the_graph() -> None:
    compiled = flow(ASK)  # `late` is reachable through onTimeout alone: valid
    assert compiled.graph.successors["ask"] == ("done", "late")
    with pytest.raises(FlowInvalid) as invalid:
        load_flows_text(flow_text(ASK.replace("onTimeout: [late]", "onTimeout: [lat]")))
    [issue] = invalid.value.issues
    assert "unknown target node 'lat' (did you mean 'late'?)" in str(issue)
    assert issue.field == "wait.onTimeout.0"


def test_a_schema_that_is_no_json_schema_is_refused_at_load() -> None:
    with pytest.raises(FlowInvalid) as invalid:
        load_flows_text(flow_text(ASK.replace("type: object,", "type: objekt,")))
    assert "not a JSON Schema" in str(invalid.value.issues[0])


def test_tokens_are_versioned_and_only_their_hash_is_kept() -> None:
    token = new_token("01m8sxwdv2vjf97rqg92stsjmj")
    text = str(token)
    assert text.startswith("w1.01m8sxwdv2vjf97rqg92stsjmj.") and len(token.secret) == 43
    assert parse_token(text) == token
    assert token.hash == hashlib.sha256(token.secret.encode()).hexdigest()
    assert matches(token, token.hash) and not matches(token, None)
    other = Token("w1", token.wait_id, "A" * 43)
    assert not matches(other, token.hash)
    with pytest.raises(BadToken, match="version 'w9'"):
        parse_token(text.replace("w1.", "w9.", 1))
    with pytest.raises(BadToken, match="expected w1"):
        parse_token(text[:-1])


async def test_the_wait_parks_with_its_token_hash_and_resumes_with_the_payload(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEIR_PUBLIC_URL", "https://weir.example.com/")
    compiled = flow(ASK)
    parked = await run(engine, compiled, {"item": "PO-1"})
    assert parked.status == Status.WAITING
    found = await engine.store.get_execution(parked.id)  # type: ignore[union-attr]
    assert found is not None
    output = found[1][0].output
    token = output["resumePath"].removeprefix("/waits/")
    assert output["resumeUrl"] == "https://weir.example.com/waits/" + token
    assert output["resumeCommand"].startswith(f"weir resume {token} ")
    assert output["message"] == "Approve PO-1?" and output["kind"] == "human"
    waits = engine.store.waits()  # type: ignore[union-attr]
    wait = await wait_of_token(waits, token)
    assert wait.token_hash == parse_token(token).hash and token.split(".")[2] not in str(wait)
    assert wait.details["onTimeout"] == ["late"] and wait.schema["required"] == ["approved"]
    assert wait.due_at is not None and 3590 < wait.due_at - time.time() <= 3600

    with pytest.raises(PayloadRejected) as rejected:
        await resolve_token(waits, token, {"approved": 1, "extra": True}, "test")
    assert rejected.value.problems == ["payload.approved: 1 is not of type 'boolean'"]
    resolved = await resolve_token(waits, token, {"approved": True}, "cli:ana")
    assert resolved.state == "resolved" and resolved.resolved_by == "cli:ana"
    with pytest.raises(AlreadyResolved) as again:
        await resolve_token(waits, token, {"approved": False}, "cli:bob")
    assert again.value.wait.result == {"output": {"approved": True}}

    claimed = await waits.claim(wait.id, parked.id)
    assert claimed is not None
    finished = await (await resumed_execution(engine, compiled, claimed)).run()
    assert finished.status == Status.SUCCEEDED and finished.result == {"approved": True}


async def test_an_unknown_or_expired_token_is_refused(engine: Engine) -> None:
    compiled = flow(ASK.replace("timeout: 1h", "timeout: 50ms"))
    parked = await run(engine, compiled, {"item": "PO-2"})
    found = await engine.store.get_execution(parked.id)  # type: ignore[union-attr]
    assert found is not None
    token = found[1][0].output["resumePath"].removeprefix("/waits/")
    waits = engine.store.waits()  # type: ignore[union-attr]
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for wrong in (forged, "w1.nothing", "w2." + token[3:]):
        with pytest.raises(UnknownWait):
            await resolve_token(waits, wrong, {"approved": True}, "test")
    time.sleep(0.06)
    with pytest.raises(WaitGone, match="timed out"):
        await resolve_token(waits, token, {"approved": True}, "test")
    done = await resume(engine, compiled, parked.id)  # the runner takes the timeout
    assert done.status == Status.SUCCEEDED
    found = await engine.store.get_execution(parked.id)  # type: ignore[union-attr]
    assert found is not None
    assert [(n.node, n.status) for n in found[1]] == [("ask", "succeeded"), ("late", "succeeded")]
    assert found[1][0].output == {"timedOut": True}
    with pytest.raises(WaitGone):
        await resolve_token(waits, token, {"approved": True}, "test")


async def test_a_timed_out_wait_is_replayed_as_it_ended_when_a_later_wait_resumes(
    engine: Engine,
) -> None:
    compiled = flow("""\
        - name: first
          wait: {timeout: 50ms, onTimeout: second}
          next: paid
        - name: second
          wait: {message: "still there?"}
          next: reminded
        - name: paid
          log: {message: paid}
        - name: reminded
          log: {message: reminded}
    """)
    parked = await run(engine, compiled)
    time.sleep(0.06)
    again = await resume(engine, compiled, parked.id)  # the timeout: second parks
    assert again.status == Status.WAITING
    done = await resume(engine, compiled, parked.id, {"output": {"here": True}})
    assert done.status == Status.SUCCEEDED
    found = await engine.store.get_execution(parked.id)  # type: ignore[union-attr]
    assert found is not None
    assert [n.node for n in found[1]] == ["first", "second", "reminded"]


async def test_without_a_store_or_under_for_each_a_wait_is_a_config_error(
    engine: Engine,
) -> None:
    alone = Engine()
    try:
        result = await alone.execute(flow(ASK), TriggerEvent(payload={"item": "x"}))
    finally:
        await alone.resources.aclose()
    assert result.status == Status.FAILED and result.error is not None
    assert result.error["type"] == "config"
    looped = flow("""\
        - name: each
          forEach: {items: "$.input.items"}
          wait: {message: one of many}
    """)
    with_store = await run(engine, looped, {"items": [1, 2]})
    assert with_store.error is not None
    assert with_store.status == Status.FAILED and with_store.error["type"] == "config"
