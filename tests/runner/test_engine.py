"""The engine's semantics: success, condition, otherwise and error transitions; fan-out and
joins; forEach; retries with backoff; node and flow timeouts; cancellation; results; records;
secret redaction."""

from __future__ import annotations

import asyncio
import textwrap
from typing import Any

import pytest

from tests.runner import kinds
from weir.engine.executor import Engine, ExecutionResult, Replay, TriggerEvent
from weir.engine.retry import RetryDecider
from weir.flow.load import CompiledFlow, load_flows_text
from weir.flow.model import RetryPolicy
from weir.lang.errors import NodeError
from weir.secrets.resolve import LocalSecretResolver


def flow(nodes: str, extra: str = "") -> CompiledFlow:
    text = (
        "apiVersion: weir.dev/v1alpha1\nkind: Flow\nmetadata: {name: t}\nspec:\n"
        "  trigger: {manual: {}}\n"
        + textwrap.indent(textwrap.dedent(extra), "  ")
        + "  nodes:\n"
        + textwrap.indent(textwrap.dedent(nodes), "    ")
    )
    return load_flows_text(text)[0]


def ext(kind: str, **config: Any) -> str:
    import json

    return json.dumps({"kind": f"test.{kind}", "config": config})


async def execute(
    compiled: CompiledFlow, payload: Any = None, **engine_args: Any
) -> ExecutionResult:
    engine = Engine(**engine_args)
    try:
        return await engine.execute(compiled, TriggerEvent(payload=payload))
    finally:
        await engine.aclose()


def ran(result: ExecutionResult) -> list[str]:
    return [record.node for record in result.nodes]


@pytest.fixture(autouse=True)
def fresh_calls() -> None:
    kinds.CALLS.clear()


async def test_a_linear_flow_returns_the_last_nodes_output() -> None:
    result = await execute(
        flow(f"""\
        - name: a
          extension: {ext("echo", value="${input.n + 1}")}
          next: b
        - name: b
          extension: {ext("echo", value={"double": "${nodes.a * 2}"})}
        """),
        {"n": 1},
    )
    assert result.status == "succeeded"
    assert result.result == {"double": 4}
    assert ran(result) == ["a", "b"]


async def test_spec_result_shapes_what_an_execution_returns() -> None:
    result = await execute(
        flow(
            f"""\
            - name: a
              extension: {ext("echo", value=[1, 2, 3])}
            """,
            "result: {first: '$.nodes.a[0]', all: '$.nodes.a[*]'}\n",
        )
    )
    assert result.result == {"first": 1, "all": [1, 2, 3]}


CONDITIONAL = f"""\
- name: classify
  extension: {ext("echo", value="$.input")}
  when:
    - condition: output.status == "active"
      next: activate
    - condition: output.status == "draft"
      next: draft
  otherwise: unknown
- name: activate
  extension: {ext("echo", value="activate")}
- name: draft
  extension: {ext("echo", value="draft")}
- name: unknown
  extension: {ext("echo", value="unknown")}
"""


@pytest.mark.parametrize(
    ("status", "taken"), [("active", "activate"), ("draft", "draft"), ("gone", "unknown")]
)
async def test_conditions_take_the_first_match_else_otherwise(status: str, taken: str) -> None:
    result = await execute(flow(CONDITIONAL), {"status": status})
    assert ran(result) == ["classify", taken]
    assert result.result == taken


async def test_a_condition_that_is_not_boolean_fails_the_node() -> None:
    result = await execute(
        flow(f"""\
        - name: a
          extension: {ext("echo", value=1)}
          when: [{{condition: "output", next: b}}]
        - name: b
          extension: {ext("echo", value=2)}
        """)
    )
    assert result.status == "failed"
    assert result.error is not None and "not a boolean" in result.error["message"]
    assert result.error["node"] == "a"


async def test_fan_out_runs_branches_concurrently_and_the_join_waits_for_both() -> None:
    compiled = flow(f"""\
    - name: start
      extension: {ext("echo", value=0)}
      next: [slow, fast]
    - name: slow
      extension: {ext("barrier", key="fan", parties=2)}
      next: join
    - name: fast
      extension: {ext("barrier", key="fan", parties=2)}
      next: join
    - name: join
      extension: {ext("echo", value=["${nodes.slow}", "${nodes.fast}"])}
    """)
    result = await execute(compiled)
    # The barrier only opens when both branches wait at once: they ran concurrently.
    assert result.status == "succeeded", result.error
    assert result.result == ["slow", "fast"]
    assert ran(result)[-1] == "join" and ran(result).count("join") == 1


async def test_a_join_does_not_wait_for_a_branch_that_was_not_taken() -> None:
    compiled = flow(f"""\
    - name: start
      extension: {ext("echo", value="$.input")}
      next: always
      when: [{{condition: "output.extra", next: extra}}]
    - name: extra
      extension: {ext("echo", value="extra")}
      next: join
    - name: always
      extension: {ext("echo", value="always")}
      next: join
    - name: join
      extension: {ext("echo", value="joined")}
    """)
    without = await execute(compiled, {"extra": False})
    assert ran(without) == ["start", "always", "join"]
    with_extra = await execute(compiled, {"extra": True})
    assert sorted(ran(with_extra)) == ["always", "extra", "join", "start"]
    assert ran(with_extra)[-1] == "join"


async def test_a_failing_node_is_retried_then_follows_its_error_transition() -> None:
    compiled = flow(f"""\
    - name: push
      extension: {ext("flaky", key="push", failures=5)}
      retry: {{maxAttempts: 3, backoff: fixed, initialDelay: 10ms, jitter: false}}
      onError: alert
    - name: alert
      extension: {ext("echo", value="${error.node + ': ' + error.message}")}
    """)
    result = await execute(compiled)
    assert result.status == "succeeded"
    assert result.result == "push: failure 3"
    push = result.nodes[0]
    assert push.status == "failed"
    assert [a["attempt"] for a in push.attempts] == [1, 2, 3]
    assert all(a["error"]["message"].startswith("failure") for a in push.attempts)
    assert kinds.CALLS["push"] == 3


async def test_a_retry_that_succeeds_takes_the_success_transition() -> None:
    compiled = flow(f"""\
    - name: push
      extension: {ext("flaky", key="ok", failures=1)}
      retry: {{maxAttempts: 2, initialDelay: 1ms}}
    """)
    result = await execute(compiled)
    assert result.status == "succeeded" and result.result == {"calls": 2}
    assert len(result.nodes[0].attempts) == 2


async def test_a_retry_is_logged_with_the_flow_and_the_execution(
    caplog: pytest.LogCaptureFixture,
) -> None:
    compiled = flow(f"""\
    - name: push
      extension: {ext("flaky", key="logged", failures=1)}
      retry: {{maxAttempts: 2, initialDelay: 1ms}}
    """)
    with caplog.at_level("INFO", logger="weir.engine"):
        result = await execute(compiled)
    [line] = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert line.getMessage().startswith("node push attempt 1 failed")
    assert (line.flow, line.execution) == ("t", result.id)  # type: ignore[attr-defined]


async def test_non_retryable_errors_are_not_retried_by_default() -> None:
    compiled = flow(f"""\
    - name: push
      extension: {ext("flaky", key="nr", failures=1, retryable=False)}
      retry: {{maxAttempts: 5, initialDelay: 1ms}}
    """)
    result = await execute(compiled)
    assert result.status == "failed" and kinds.CALLS["nr"] == 1
    assert result.error == {
        "node": "push",
        "kind": "extension",
        "type": "flaky",
        "message": "failure 1",
        "retryable": False,
        "attempts": 1,
    }


async def test_retry_on_lists_the_error_types_that_retry() -> None:
    compiled = flow(f"""\
    - name: push
      extension: {ext("flaky", key="typed", failures=2, retryable=False, type="conflict")}
      retry: {{maxAttempts: 5, initialDelay: 1ms, retryOn: [conflict]}}
    """)
    result = await execute(compiled)
    assert result.status == "succeeded" and kinds.CALLS["typed"] == 3


def test_exponential_backoff_grows_to_the_max_delay_and_jitter_stays_in_bounds() -> None:
    policy = RetryPolicy(maxAttempts=6, initialDelay=1, multiplier=3, maxDelay=20, jitter=False)
    decider = RetryDecider(policy)
    error = NodeError("x", retryable=True)
    assert [decider.delay_before_next(n, error) for n in range(1, 7)] == [1, 3, 9, 20, 20, None]
    jittered = RetryDecider(policy.model_copy(update={"jitter": True}))
    for _ in range(100):
        delay = jittered.delay_before_next(2, error)
        assert delay is not None and 3 * 0.8 <= delay <= 3 * 1.2
    fixed = RetryDecider(RetryPolicy(backoff="fixed", initialDelay=2, jitter=False))
    assert fixed.delay_before_next(2, error) == 2


def test_a_servers_wait_is_honoured_up_to_the_max_delay() -> None:
    decider = RetryDecider(RetryPolicy(maxAttempts=3, initialDelay=1, maxDelay=10, jitter=True))
    # Longer than the policy's own delay: the server's wait.
    assert decider.delay_before_next(1, NodeError("busy", retryable=True, retry_after=8)) == 8
    # Shorter: the policy's delay, which is already at least that long.
    short = decider.delay_before_next(1, NodeError("busy", retryable=True, retry_after=0))
    assert short is not None and 0.8 <= short <= 1.2
    exactly = NodeError("busy", retryable=True, retry_after=10)
    assert decider.delay_before_next(1, exactly) == 10 and exactly.message == "busy"


def test_a_servers_wait_longer_than_the_max_delay_is_not_retried_and_says_so() -> None:
    decider = RetryDecider(RetryPolicy(maxAttempts=3, maxDelay=10))
    error = NodeError("busy", retryable=True, retry_after=30)
    assert decider.delay_before_next(1, error) is None
    assert (
        str(error)
        == error.message
        == (
            "busy (the server asked to wait 30s before trying again, longer than retry.maxDelay "
            "10s: not retried)"
        )
    )
    assert error.to_dict()["retryAfter"] == 30


def test_a_servers_wait_neither_makes_an_error_retryable_nor_adds_attempts() -> None:
    decider = RetryDecider(RetryPolicy(maxAttempts=3))
    assert decider.delay_before_next(1, NodeError("no", retry_after=1)) is None
    last = NodeError("busy", retryable=True, retry_after=1)
    assert decider.delay_before_next(3, last) is None and last.message == "busy"
    assert RetryDecider(None).delay_before_next(1, last) is None


async def test_a_node_timeout_is_a_retryable_timeout_error() -> None:
    compiled = flow(f"""\
    - name: slow
      extension: {ext("sleep", seconds=5)}
      timeout: 50ms
    """)
    result = await execute(compiled)
    assert result.status == "failed"
    assert result.error is not None
    assert result.error["type"] == "timeout" and result.error["retryable"] is True


async def test_the_flow_timeout_fails_the_whole_execution() -> None:
    compiled = flow(
        f"""\
        - name: slow
          extension: {ext("sleep", seconds=5)}
        """,
        "timeout: 100ms\n",
    )
    result = await execute(compiled)
    assert result.status == "failed"
    assert result.error is not None and result.error["message"] == "flow timed out after 0.1s"


async def test_a_failure_cancels_the_branches_still_running() -> None:
    compiled = flow(f"""\
    - name: start
      extension: {ext("echo", value=0)}
      next: [slow, bad]
    - name: slow
      extension: {ext("sleep", seconds=5)}
    - name: bad
      extension: {ext("flaky", key="bad", failures=1, retryable=False)}
    """)
    result = await execute(compiled)
    assert result.status == "failed" and result.error is not None
    assert result.error["node"] == "bad"
    # Cancelled: it never finished its five seconds, and its run says it was stopped.
    slow = next(n for n in result.nodes if n.node == "slow")
    assert slow.status == "cancelled" and slow.error is not None
    assert slow.error["type"] == "cancelled" and slow.duration_ms < 5000


async def test_cancelling_an_execution_records_it_as_cancelled() -> None:
    compiled = flow(f"""\
    - name: slow
      extension: {ext("sleep", seconds=5)}
    """)
    finished: list[ExecutionResult] = []

    class Listener:
        def execution_started(self, record: Any) -> None: ...
        def node_finished(self, record: Any) -> None: ...
        def execution_finished(self, result: ExecutionResult) -> None:
            finished.append(result)

    engine = Engine(listeners=[Listener()])  # type: ignore[list-item]
    task = asyncio.create_task(engine.execute(compiled, TriggerEvent()))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert finished[0].status == "cancelled"
    assert finished[0].error == {
        "type": "cancelled",
        "message": "execution was cancelled",
        "retryable": False,
    }


async def test_for_each_runs_per_item_with_bounded_concurrency_and_keeps_order() -> None:
    compiled = flow(f"""\
    - name: each
      forEach: {{items: $.input, concurrency: 2}}
      extension: {ext("sleep", seconds=0.05, value="${item * 10 + index}")}
    """)
    result = await execute(compiled, [1, 2, 3, 4])
    assert result.result == [10, 21, 32, 43]
    assert len(result.nodes[0].attempts) == 4


async def test_a_failing_item_names_itself_in_the_nodes_error_not_in_its_attempt() -> None:
    compiled = flow(f"""\
    - name: each
      forEach: {{items: $.input, concurrency: 1}}
      extension: {ext("flaky", key="items", failures=2, retryable=False)}
    """)
    result = await execute(compiled, ["a", "b"])
    assert result.error is not None
    assert result.error["message"] == "item 0: failure 1"
    assert result.error["index"] == 0 and result.error["attempts"] == 1
    (record,) = result.nodes
    assert record.attempts[0]["error"]["message"] == "failure 1"
    assert all("index" not in a["error"] for a in record.attempts)


async def test_for_each_over_a_non_list_is_a_clear_error() -> None:
    compiled = flow(f"""\
    - name: each
      forEach: {{items: $.input}}
      extension: {ext("echo", value=1)}
    """)
    result = await execute(compiled, {"not": "a list"})
    assert result.error is not None
    assert result.error["message"] == "forEach.items must be a list, got dict"


async def test_an_unexpected_exception_becomes_a_structured_error() -> None:
    result = await execute(flow(f"- name: a\n  extension: {ext('boom')}\n"))
    assert result.error is not None
    assert result.error["type"] == "internal"
    assert result.error["message"] == "RuntimeError: unexpected bug"


async def test_a_missing_connector_package_names_what_to_install() -> None:
    result = await execute(flow(f"- name: a\n  extension: {ext('missing')}\n"))
    assert result.error is not None and result.error["type"] == "config"
    assert "needs the Python package 'weir_no_such_connector'" in result.error["message"]


async def test_a_missing_reference_fails_the_node_with_an_expression_error() -> None:
    result = await execute(
        flow(f"- name: a\n  extension: {ext('echo', value='$.input.nope')}\n"), {}
    )
    assert result.error is not None
    assert result.error["type"] == "expression"
    assert "$.input.nope matched nothing" in result.error["message"]


async def test_node_runs_record_input_output_and_timing() -> None:
    result = await execute(
        flow(f"- name: a\n  extension: {ext('echo', value='${input.x}')}\n"), {"x": 7}
    )
    (record,) = result.nodes
    assert record.input == {"value": 7}
    assert record.output == 7
    assert record.finished_at >= record.started_at
    assert record.kind == "extension"


async def test_secret_values_are_redacted_from_result_records_and_errors() -> None:
    canary = "canary-5ecret-value-42"
    compiled = flow(
        f"""\
        - name: leak
          extension: {ext("echo", value="x", secret={"secret": "api", "key": "token"})}
          next: fail
        - name: fail
          extension: {ext("echo", value="${nodes.leak.secret + ' ' + nodes.nope_x}")}
        """.replace(" + ' ' + nodes.nope_x", ""),
        "secrets: [{name: api}]\n",
    )
    resolver = LocalSecretResolver(environ={"WEIR_SECRET_API_TOKEN": canary})
    result = await execute(compiled, secrets=resolver)
    assert result.status == "succeeded"
    assert canary not in repr(result.result) and canary not in repr(result.nodes)
    assert result.result == "***"


DIAMOND = f"""\
- name: a
  extension: {ext("echo", value="${input.n}")}
  next: [b, c]
- name: b
  extension: {ext("echo", value="${nodes.a + 1}")}
  next: j
- name: c
  extension: {ext("echo", value="${nodes.a + 2}")}
  next: j
- name: j
  extension: {ext("echo", value=["${nodes.b}", "${nodes.c}"])}
"""


async def test_a_replay_from_a_node_reuses_the_recorded_outputs_before_it() -> None:
    engine = Engine()
    replay = Replay(of="original", start="b", outputs={"a": 100, "c": 7})
    result = await engine.execute(flow(DIAMOND), TriggerEvent(payload={"n": 1}), replay=replay)
    await engine.aclose()
    assert ran(result) == ["b", "j"]
    assert result.result == [101, 7]


async def test_a_full_replay_runs_every_node_again() -> None:
    engine = Engine()
    result = await engine.execute(
        flow(DIAMOND), TriggerEvent(payload={"n": 1}), replay=Replay(of="x")
    )
    await engine.aclose()
    assert sorted(ran(result)) == ["a", "b", "c", "j"] and result.result == [2, 3]
