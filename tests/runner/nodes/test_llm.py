"""The `llm` node against a real local HTTP server speaking the chat-completions protocol."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tests.servers.openai_stub import OpenAIStub, Reply, completion, error
from tests.servers.ports import free_port
from weir.engine.executor import Engine, TriggerEvent
from weir.flow.load import load_flows_text
from weir.lang.errors import AuthFailed, ConnectionFailed, NodeError, NodeTimeout
from weir.nodes.context import NodeContext
from weir.nodes.llm import LlmConfig, run
from weir.secrets.resolve import LocalSecretResolver

KEY = "sk-test-key"
SECRETS = {("openai", "key"): KEY}
EXAMPLE = Path(__file__).parents[3] / "examples" / "llm-summary" / "flow.yaml"

PERSON = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "age", "tags"],
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer", "minimum": 0},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
}


@pytest.fixture
async def stub() -> AsyncIterator[OpenAIStub]:
    server = await OpenAIStub(api_key=KEY).start()
    yield server
    await server.stop()


def config(stub: OpenAIStub, **fields: Any) -> LlmConfig:
    base: dict[str, Any] = {
        "baseUrl": stub.base_url,
        "model": "gpt-test",
        "apiKey": {"secret": "openai", "key": "key"},
        "prompt": "Hello",
    }
    return LlmConfig.model_validate({**base, **fields})


async def call(
    stub: OpenAIStub,
    make_ctx: Callable[..., NodeContext],
    scope: dict[str, Any] | None = None,
    **fields: Any,
) -> Any:
    return await run(config(stub, **fields), make_ctx(scope=scope, secrets=SECRETS))


async def test_sends_templated_messages_model_and_bearer_key(
    stub: OpenAIStub, make_ctx: Callable[..., NodeContext]
) -> None:
    stub.script(completion("Bonjour Ada", usage=(30, 4)))
    ctx = make_ctx(scope={"input": {"name": "Ada", "lang": "French"}}, secrets=SECRETS)
    output = await run(
        config(
            stub,
            model="${'gpt-' + 'test'}",
            prompt=None,
            messages=[
                {"role": "system", "content": "Translate to ${input.lang}."},
                {"role": "user", "content": "Hello ${input.name}"},
                {"role": "assistant", "content": "Noted."},
            ],
            temperature=0.3,
            maxTokens=50,
            headers={"X-Trace": "t-${input.name}"},
        ),
        ctx,
    )
    assert output == {
        "content": "Bonjour Ada",
        "model": "stub-model",
        "finishReason": "stop",
        "usage": {"promptTokens": 30, "completionTokens": 4, "totalTokens": 34},
    }
    [request] = stub.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["X-Trace"] == "t-Ada"
    assert request.json == {
        "model": "gpt-test",
        "messages": [
            {"role": "system", "content": "Translate to French."},
            {"role": "user", "content": "Hello Ada"},
            {"role": "assistant", "content": "Noted."},
        ],
        "temperature": 0.3,
        "max_tokens": 50,
    }
    assert ctx.input["messages"][1] == {"role": "user", "content": "Hello Ada"}
    assert KEY not in str(ctx.input)


async def test_system_and_prompt_shorthand(
    stub: OpenAIStub, make_ctx: Callable[..., NodeContext]
) -> None:
    stub.script(completion("ok"))
    await call(stub, make_ctx, {"input": {"q": "2+2?"}}, system="Be brief.", prompt="${input.q}")
    assert stub.requests[0].json["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "2+2?"},
    ]
    assert "response_format" not in stub.requests[0].json


async def test_schema_output_is_requested_parsed_and_validated(
    stub: OpenAIStub, make_ctx: Callable[..., NodeContext]
) -> None:
    answer = {"name": "Ada", "age": 36, "tags": ["math"]}
    stub.script(completion(answer))
    output = await call(stub, make_ctx, responseFormat={"name": "person", "schema": PERSON})
    assert output["content"] == answer
    assert stub.requests[0].json["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "person", "schema": PERSON, "strict": True},
    }


async def test_json_mode_parses_fenced_json(
    stub: OpenAIStub, make_ctx: Callable[..., NodeContext]
) -> None:
    stub.script(completion('```json\n{"a": [1, 2]}\n```'))
    output = await call(stub, make_ctx, responseFormat="json")
    assert output["content"] == {"a": [1, 2]}
    assert stub.requests[0].json["response_format"] == {"type": "json_object"}


async def test_schema_violation_lists_the_failing_paths(
    stub: OpenAIStub, make_ctx: Callable[..., NodeContext]
) -> None:
    stub.script(completion({"name": "Ada", "age": -1, "tags": ["x", 7]}))
    with pytest.raises(NodeError) as caught:
        await call(stub, make_ctx, responseFormat={"schema": PERSON})
    err = caught.value
    assert err.type == "llm_output" and err.retryable
    assert "$.age: -1 is less than the minimum of 0" in err.message
    assert "$.tags[1]: 7 is not of type 'string'" in err.message
    assert [f["path"] for f in err.details["failures"]] == ["$.age", "$.tags[1]"]


async def test_missing_required_property_is_reported_at_the_root(
    stub: OpenAIStub, make_ctx: Callable[..., NodeContext]
) -> None:
    stub.script(completion({"name": "Ada", "tags": []}))
    with pytest.raises(NodeError, match=r"\$: 'age' is a required property"):
        await call(stub, make_ctx, responseFormat={"schema": PERSON})


@pytest.mark.parametrize("response_format", ["json", {"schema": PERSON}])
async def test_content_that_is_not_json_is_a_retryable_output_error(
    stub: OpenAIStub, make_ctx: Callable[..., NodeContext], response_format: Any
) -> None:
    stub.script(completion('{"name": "Ada", "age": 3', finish_reason="length"))
    with pytest.raises(NodeError) as caught:
        await call(stub, make_ctx, responseFormat=response_format)
    assert caught.value.type == "llm_output" and caught.value.retryable
    assert "not JSON" in caught.value.message and "cut off" in caught.value.message


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_rate_limits_and_server_errors_are_retryable(
    stub: OpenAIStub, make_ctx: Callable[..., NodeContext], status: int
) -> None:
    stub.script(error(status, "slow down"))
    with pytest.raises(NodeError) as caught:
        await call(stub, make_ctx)
    err = caught.value
    assert (err.type, err.retryable, err.details["status"]) == ("http", True, status)
    assert "slow down" in err.message and f"HTTP {status}" in err.message


async def test_a_rate_limit_carries_the_wait_the_server_asks_for(
    stub: OpenAIStub, make_ctx: Callable[..., NodeContext]
) -> None:
    stub.script(error(429, "slow down", headers={"Retry-After": "7"}))
    with pytest.raises(NodeError) as caught:
        await call(stub, make_ctx)
    assert (caught.value.retryable, caught.value.retry_after) == (True, 7.0)
    assert caught.value.to_dict()["retryAfter"] == 7.0


async def test_bad_request_is_not_retryable_and_quotes_the_server(
    stub: OpenAIStub, make_ctx: Callable[..., NodeContext]
) -> None:
    stub.script(error(400, "Unknown model 'gpt-test'"))
    with pytest.raises(NodeError) as caught:
        await call(stub, make_ctx)
    err = caught.value
    assert (err.type, err.retryable, err.details["status"]) == ("http", False, 400)
    assert "Unknown model 'gpt-test'" in err.message


async def test_a_refused_key_is_auth_failed_without_the_key(
    stub: OpenAIStub, make_ctx: Callable[..., NodeContext]
) -> None:
    wrong = "sk-wrong-0123456789"
    with pytest.raises(AuthFailed) as caught:
        await call(stub, make_ctx, apiKey=wrong)
    assert stub.requests[0].headers["Authorization"] == f"Bearer {wrong}"
    assert not caught.value.retryable
    assert "HTTP 401" in caught.value.message
    assert wrong not in str(caught.value.to_dict())


async def test_no_key_sends_no_authorization(make_ctx: Callable[..., NodeContext]) -> None:
    server = await OpenAIStub(api_key=None).start()
    try:
        server.script(completion("local"))
        output = await run(
            LlmConfig.model_validate(
                {"baseUrl": server.base_url + "/", "model": "llama", "prompt": "hi"}
            ),
            make_ctx(),
        )
    finally:
        await server.stop()
    assert output["content"] == "local"
    assert "Authorization" not in server.requests[0].headers


async def test_connection_refused(make_ctx: Callable[..., NodeContext]) -> None:
    cfg = LlmConfig.model_validate(
        {"baseUrl": f"http://127.0.0.1:{free_port()}/v1", "model": "m", "prompt": "hi"}
    )
    with pytest.raises(ConnectionFailed) as caught:
        await run(cfg, make_ctx())
    assert caught.value.retryable


async def test_a_slow_server_is_a_timeout(
    stub: OpenAIStub, make_ctx: Callable[..., NodeContext]
) -> None:
    stub.script(Reply(delay=5.0, body=completion("late").body))
    with pytest.raises(NodeTimeout) as caught:
        await call(stub, make_ctx, timeout="200ms")
    assert caught.value.retryable and "0.2s" in caught.value.message


async def test_a_response_without_choices_is_an_error(
    stub: OpenAIStub, make_ctx: Callable[..., NodeContext]
) -> None:
    stub.script(Reply(200, {"object": "chat.completion"}))
    with pytest.raises(NodeError, match="without choices"):
        await call(stub, make_ctx)


def test_config_needs_exactly_one_conversation_and_a_valid_schema() -> None:
    with pytest.raises(ValidationError, match="exactly one of"):
        LlmConfig.model_validate({"model": "m"})
    with pytest.raises(ValidationError, match="exactly one of"):
        LlmConfig.model_validate(
            {"model": "m", "prompt": "a", "messages": [{"role": "user", "content": "b"}]}
        )
    with pytest.raises(ValidationError, match="invalid JSON Schema"):
        LlmConfig.model_validate(
            {"model": "m", "prompt": "a", "responseFormat": {"schema": {"type": "thing"}}}
        )
    with pytest.raises(ValidationError):
        LlmConfig.model_validate({"model": "m", "prompt": "a", "responseFormat": "yaml"})


FLOW = """\
apiVersion: weir.dev/v1alpha1
kind: Flow
metadata: {name: ask}
spec:
  secrets: [{name: openai}]
  trigger: {manual: {}}
  nodes:
    - name: extract
      llm:
        baseUrl: "${input.baseUrl}"
        model: gpt-test
        apiKey: {secret: openai, key: key}
        system: Extract the person.
        prompt: "${input.text}"
        responseFormat:
          name: person
          schema: %s
      retry: {maxAttempts: 3, initialDelay: 10ms, jitter: false}
  result: $.nodes.extract.content
"""


async def execute(text: str, payload: Any) -> Any:
    [compiled] = load_flows_text(text)
    engine = Engine(secrets=LocalSecretResolver(environ={"WEIR_SECRET_OPENAI_KEY": KEY}))
    try:
        return await engine.execute(compiled, TriggerEvent(payload=payload))
    finally:
        await engine.aclose()


async def test_the_engine_retries_an_answer_that_violates_the_schema(stub: OpenAIStub) -> None:
    good = {"name": "Ada", "age": 36, "tags": []}
    stub.script(completion({"name": "Ada", "age": "old", "tags": []}), completion(good))
    result = await execute(
        FLOW % json.dumps(PERSON), {"baseUrl": stub.base_url, "text": "Ada, 36."}
    )
    assert result.status == "succeeded", result
    assert result.result == good
    [record] = result.nodes
    assert [a["attempt"] for a in record.attempts] == [1, 2]
    first, second = record.attempts
    assert first["error"]["type"] == "llm_output"
    assert first["error"]["failures"] == [
        {"path": "$.age", "message": "'old' is not of type 'integer'"}
    ]
    assert second["error"] is None
    assert len(stub.requests) == 2
    assert stub.requests[1].json["messages"][1] == {"role": "user", "content": "Ada, 36."}


async def test_the_engine_gives_up_after_the_last_attempt(stub: OpenAIStub) -> None:
    stub.script(*[error(500, "down") for _ in range(3)])
    result = await execute(FLOW % json.dumps(PERSON), {"baseUrl": stub.base_url, "text": "x"})
    assert result.status == "failed"
    [record] = result.nodes
    assert len(record.attempts) == 3
    assert record.error["type"] == "http" and record.error["status"] == 500


async def test_the_example_flow_against_the_stub(stub: OpenAIStub) -> None:
    summary = {
        "title": "Weir",
        "summary": "Weir runs flows.",
        "keywords": ["flows", "kubernetes"],
        "sentiment": "positive",
    }
    stub.script(
        completion({**summary, "sentiment": "ecstatic"}),  # violates the enum: retried
        completion(summary, usage=(100, 20)),
    )
    text = "Weir runs integration flows on Kubernetes, and it is great."
    result = await execute(
        EXAMPLE.read_text(), {"text": text, "baseUrl": stub.base_url, "model": "local"}
    )
    assert result.status == "succeeded", result
    assert result.result == {"summary": summary, "model": "stub-model", "tokens": 120}
    request = stub.requests[-1].json
    assert request["model"] == "local"
    assert request["messages"][1] == {"role": "user", "content": text}
    assert request["response_format"]["json_schema"]["name"] == "summary"
    assert request["response_format"]["json_schema"]["strict"] is True


def test_the_example_defaults_to_openai() -> None:
    [compiled] = load_flows_text(EXAMPLE.read_text())
    cfg = compiled.flow.spec.nodes[0].config
    assert isinstance(cfg, LlmConfig)
    assert cfg.baseUrl.evaluate({"input": {"text": "x"}}) == "https://api.openai.com/v1"
    assert cfg.model.evaluate({"input": {}}) == "gpt-4o-mini"
