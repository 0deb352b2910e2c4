"""`llm`: one OpenAI-compatible chat completion, with JSON output validated against a schema."""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator

from weir.lang.durations import Duration
from weir.lang.errors import AuthFailed, ConnectionFailed, NodeError, NodeTimeout
from weir.lang.expressions import Text, to_text
from weir.lang.types import JsonObject, SecretOrText, Strict
from weir.nodes.connections import origin, peek
from weir.nodes.context import NodeContext
from weir.nodes.http import RETRY_AFTER_STATUS, retry_after
from weir.nodes.kind import NodeKind

if TYPE_CHECKING:
    import httpx

DEFAULT_BASE_URL = "https://api.openai.com/v1"
_MAX_QUOTE = 500
"""How much of a server's error message or of the model's content an error message quotes."""


class ChatMessage(Strict):
    role: Literal["system", "user", "assistant"] = Field(description="Who says it.")
    content: Text = Field(description="The message text; a template.")


class SchemaFormat(Strict):
    """Structured output: the server is asked to follow the schema, the node checks it did."""

    schema_: JsonObject = Field(
        alias="schema", description="JSON Schema the model's answer must satisfy."
    )
    name: str = Field(
        "output",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="Name of the schema sent to the server.",
    )

    @field_validator("schema_")
    @classmethod
    def _valid_schema(cls, schema: dict[str, Any]) -> dict[str, Any]:
        from jsonschema import SchemaError
        from jsonschema.validators import validator_for

        try:
            validator_for(schema).check_schema(schema)
        except SchemaError as exc:
            raise ValueError(f"invalid JSON Schema: {exc.message}") from None
        return schema


class LlmConfig(Strict):
    baseUrl: Text = Field(
        DEFAULT_BASE_URL,
        validate_default=True,
        description="API base URL (https://api.openai.com/v1, http://127.0.0.1:11434/v1, ...).",
    )
    model: Text = Field(description="Model name, e.g. gpt-4o-mini.")
    apiKey: SecretOrText | None = Field(
        None, description="Bearer token, usually a secret; none for local servers."
    )
    messages: list[ChatMessage] | None = Field(
        None, description="The conversation; or use `system` and `prompt`."
    )
    system: Text | None = Field(None, description="System message, sent first.")
    prompt: Text | None = Field(None, description="User message (shorthand for `messages`).")
    temperature: float | None = Field(None, ge=0, le=2, description="Sampling temperature.")
    maxTokens: int | None = Field(None, ge=1, description="Upper bound of generated tokens.")
    timeout: Duration = Field(120.0, description="Limit of the HTTP request.")
    responseFormat: Literal["text", "json"] | SchemaFormat = Field(
        "text",
        description='"text", "json" (any JSON object) or {schema: ...} (validated output).',
    )
    headers: dict[str, Text] | None = Field(None, description="Extra HTTP headers.")

    @model_validator(mode="after")
    def _one_conversation(self) -> LlmConfig:
        if (self.messages is None) == (self.prompt is None):
            raise ValueError("set exactly one of `messages` and `prompt`")
        if self.messages is not None and not self.messages:
            raise ValueError("`messages` must not be empty")
        return self


def _client(ctx: NodeContext) -> httpx.AsyncClient:
    """The runner's pooled HTTP client, the one the `http` node uses for verified TLS."""
    import httpx

    return ctx.resources.get(
        ("http", True),
        lambda: httpx.AsyncClient(
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50)
        ),
        lambda client: client.aclose(),
    )


def _messages(config: LlmConfig, ctx: NodeContext) -> list[dict[str, str]]:
    messages: list[dict[str, str]] = []
    if config.system is not None:
        messages.append({"role": "system", "content": ctx.text(config.system)})
    if config.prompt is not None:
        messages.append({"role": "user", "content": ctx.text(config.prompt)})
    for message in config.messages or []:
        content = to_text(message.content.evaluate(ctx.scope))
        messages.append({"role": message.role, "content": content})
    if config.messages is not None:
        ctx.input.pop("content", None)
        ctx.input["messages"] = messages
    return messages


def _response_format(config: LlmConfig) -> dict[str, Any] | None:
    fmt = config.responseFormat
    if fmt == "json":
        return {"type": "json_object"}
    if isinstance(fmt, SchemaFormat):
        return {
            "type": "json_schema",
            "json_schema": {"name": fmt.name, "schema": fmt.schema_, "strict": True},
        }
    return None


def _quote(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _MAX_QUOTE else text[:_MAX_QUOTE] + "..."


def _server_message(response: httpx.Response) -> str:
    """The error message of an OpenAI-style error body, else the body's text."""
    try:
        body = response.json()
    except ValueError:
        return _quote(response.text) or response.reason_phrase
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return _quote(str(error["message"]))
    if isinstance(error, str) and error:
        return _quote(error)
    if isinstance(body, dict) and body.get("message"):
        return _quote(str(body["message"]))
    return _quote(response.text) or response.reason_phrase


def _http_error(response: httpx.Response, url: str) -> NodeError:
    status = response.status_code
    if status in (401, 403):
        # The server's message may quote the key: say only that it was refused.
        return AuthFailed(f"{url} refused the API key (HTTP {status})", details={"status": status})
    retryable = status in (408, 409, 429) or status >= 500
    return NodeError(
        f"{url} answered HTTP {status}: {_server_message(response)}",
        type="http",
        retryable=retryable,
        details={"status": status},
        # Model APIs rate-limit with Retry-After: the retry policy waits as they ask.
        retry_after=(
            retry_after(response.headers.get("retry-after"), time.time())
            if status in RETRY_AFTER_STATUS
            else None
        ),
    )


_FENCE = re.compile(r"^```(?:json)?\s*\n(.*?)\n?```$", re.DOTALL)


def _parse_json(content: str | None, finish_reason: Any) -> Any:
    hint = " (the answer was cut off: finishReason is length)" if finish_reason == "length" else ""
    if content is None:
        raise NodeError(f"the model returned no content{hint}", type="llm_output", retryable=True)
    text = content.strip()
    fenced = _FENCE.match(text)  # local models like to wrap JSON in a Markdown code block
    if fenced:
        text = fenced.group(1)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise NodeError(
            f"the model's answer is not JSON{hint}: {exc}",
            type="llm_output",
            retryable=True,
            details={"content": _quote(content)},
        ) from None


def _json_path(path: Any) -> str:
    out = "$"
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else f".{step}"
    return out


def _validate(value: Any, schema: dict[str, Any], content: str) -> None:
    from jsonschema.validators import validator_for

    validator = validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(value), key=lambda e: [str(p) for p in e.absolute_path])
    if not errors:
        return
    failures = [{"path": _json_path(e.absolute_path), "message": e.message} for e in errors]
    listed = "; ".join(f"{f['path']}: {f['message']}" for f in failures[:10])
    more = f" (and {len(failures) - 10} more)" if len(failures) > 10 else ""
    raise NodeError(
        f"the model's answer does not match the schema: {listed}{more}",
        type="llm_output",
        retryable=True,
        details={"failures": failures, "content": _quote(content)},
    )


def _completion(body: Any, url: str) -> tuple[Any, Any]:
    """``(content, finish_reason)`` of the first choice, or an error for other shapes."""
    choices = body.get("choices") if isinstance(body, dict) else None
    if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
        raise NodeError(f"{url} answered without choices: {_quote(to_text(body))}", type="http")
    choice = choices[0]
    message = choice.get("message") or {}
    if message.get("content") is None and message.get("refusal"):
        raise NodeError(
            f"the model refused: {_quote(str(message['refusal']))}",
            type="llm_output",
            retryable=True,
        )
    return message.get("content"), choice.get("finish_reason")


def _usage(body: dict[str, Any]) -> dict[str, Any]:
    usage = body.get("usage") or {}
    return {
        "promptTokens": usage.get("prompt_tokens"),
        "completionTokens": usage.get("completion_tokens"),
        "totalTokens": usage.get("total_tokens"),
    }


async def run(config: LlmConfig, ctx: NodeContext) -> dict[str, Any]:
    import httpx

    base_url = ctx.text(config.baseUrl).rstrip("/")
    url = f"{base_url}/chat/completions"
    model = ctx.text(config.model)
    request: dict[str, Any] = {"model": model, "messages": _messages(config, ctx)}
    if config.temperature is not None:
        request["temperature"] = config.temperature
    if config.maxTokens is not None:
        request["max_tokens"] = config.maxTokens
    response_format = _response_format(config)
    if response_format is not None:
        request["response_format"] = response_format
    headers = {name: ctx.text(value) for name, value in (config.headers or {}).items()}
    if config.apiKey is not None:
        headers["Authorization"] = f"Bearer {ctx.reveal(config.apiKey)}"

    client = _client(ctx)
    try:
        response = await client.post(url, json=request, headers=headers, timeout=config.timeout)
    except httpx.TimeoutException:
        raise NodeTimeout(f"{url} did not answer within {config.timeout:g}s") from None
    except httpx.ConnectError as exc:
        raise ConnectionFailed(f"cannot reach {url}: {exc or type(exc).__name__}") from None
    except httpx.TransportError as exc:
        raise ConnectionFailed(f"request to {url} failed: {type(exc).__name__}") from None
    if response.status_code >= 400:
        raise _http_error(response, url)
    try:
        body = response.json()
    except ValueError:
        raise NodeError(
            f"{url} answered with a body that is not JSON: {_quote(response.text)}",
            type="http",
            retryable=True,
            details={"status": response.status_code},
        ) from None

    content, finish_reason = _completion(body, url)
    output: Any = content
    fmt = config.responseFormat
    if fmt != "text":
        output = _parse_json(content, finish_reason)
        if isinstance(fmt, SchemaFormat):
            _validate(output, fmt.schema_, content)
    return {
        "content": output,
        "model": body.get("model", model),
        "finishReason": finish_reason,
        "usage": _usage(body),
    }


def connection(config: LlmConfig, ctx: NodeContext) -> str | None:
    """The model API's origin: its circuit breaker's key."""
    return origin(peek(config.baseUrl, ctx))


KIND = NodeKind(
    "llm",
    LlmConfig,
    run,
    "Ask an OpenAI-compatible chat model; JSON answers are validated against a schema.",
    connection,
)
