"""The request guards the HTTP triggers share, one at a time: the body's size and timeout, the
credentials read from case-insensitive headers, the JSON Schema built once per revision; the
ASGI body replay the MCP trigger hands its SDK; and the registry of trigger kinds."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from typing import Any, get_args

import pytest
from multidict import CIMultiDict

from weir.flow.load import CompiledFlow, load_flows_text
from weir.flow.triggers import TRIGGER_KINDS as SPEC_KINDS
from weir.flow.triggers import HttpAuth, Trigger
from weir.lang.deferred import Deferred
from weir.lang.types import SecretRef
from weir.secrets.redact import Redactor
from weir.secrets.resolve import LocalSecretResolver, Secrets
from weir.triggers import TRIGGER_KINDS
from weir.triggers.guards.auth import check_auth
from weir.triggers.guards.body import asgi_chunks, check_declared_size, read_body
from weir.triggers.guards.schema import SchemaCheck
from weir.triggers.mcp.http import replayed
from weir.triggers.rejection import MAX_DEPTH, PayloadError, Rejection, TooDeep, loads_json

SECRETS = Secrets(
    LocalSecretResolver(environ={"WEIR_SECRET_API_TOKEN": "t0ken", "WEIR_SECRET_API_PW": "pw"}),
    Redactor(),
    {"api"},
)


async def _chunks(*parts: bytes, pause: float = 0.0) -> AsyncIterator[bytes]:
    for part in parts:
        await asyncio.sleep(pause)
        yield part


async def test_a_body_within_the_limit_is_read_whole() -> None:
    assert await read_body(_chunks(b"ab", b"cd"), limit=4, timeout=1) == b"abcd"


async def test_a_body_past_the_limit_is_413_and_closes_the_connection() -> None:
    with pytest.raises(Rejection) as refused:
        await read_body(_chunks(b"ab", b"cde"), limit=4, timeout=1)
    assert refused.value.status == 413 and refused.value.close
    assert refused.value.message == "the body is larger than the limit of 4 bytes"


async def test_a_body_that_already_arrived_is_held_to_the_same_limit() -> None:
    assert await read_body(b"abcd", limit=4, timeout=1) == b"abcd"
    with pytest.raises(Rejection) as refused:
        await read_body(b"abcde", limit=4, timeout=1)
    assert refused.value.status == 413 and refused.value.close
    assert refused.value.message == "the body is larger than the limit of 4 bytes"


async def test_a_slow_body_is_408_and_a_cut_one_400() -> None:
    with pytest.raises(Rejection) as slow:
        await read_body(_chunks(b"a", b"b", pause=0.2), limit=10, timeout=0.1)
    assert slow.value.status == 408 and slow.value.message == "the body did not arrive within 0.1 s"

    async def cut() -> AsyncIterator[bytes]:
        yield b"a"
        raise ConnectionResetError

    with pytest.raises(Rejection) as broken:
        await read_body(cut(), limit=10, timeout=1)
    assert broken.value.status == 400 and "closed before the body was complete" in (
        broken.value.message
    )


def test_a_declared_length_over_the_limit_is_413_before_anything_is_read() -> None:
    check_declared_size(None, 10)
    check_declared_size(10, 10)
    with pytest.raises(Rejection) as refused:
        check_declared_size(11, 10)
    assert refused.value.message == "the body is 11 bytes; the limit is 10"


@pytest.mark.parametrize(
    ("auth", "headers", "body", "ok"),
    [
        (
            {"bearer": {"secret": "api", "key": "token"}},
            {"authorization": "bearer t0ken"},
            b"",
            True,
        ),
        (
            {"bearer": {"secret": "api", "key": "token"}},
            {"Authorization": "Bearer nope"},
            b"",
            False,
        ),
        ({"bearer": {"secret": "api", "key": "token"}}, {}, b"", False),
        (
            {"basic": {"username": "bob", "password": {"secret": "api", "key": "pw"}}},
            {"AUTHORIZATION": "Basic " + base64.b64encode(b"bob:pw").decode()},
            b"",
            True,
        ),
        (
            {"hmac": {"secret": {"secret": "api", "key": "token"}, "prefix": "sha256="}},
            {"x-signature": "sha256=" + hmac.new(b"t0ken", b"{}", hashlib.sha256).hexdigest()},
            b"{}",
            True,
        ),
        (
            {"hmac": {"secret": {"secret": "api", "key": "token"}, "prefix": "sha256="}},
            {"X-Signature": "sha256=" + hmac.new(b"t0ken", b"{}", hashlib.sha256).hexdigest()},
            b"{ }",
            False,
        ),
    ],
)
def test_credentials_are_read_from_headers_of_any_case(
    auth: dict[str, Any], headers: dict[str, str], body: bytes, ok: bool
) -> None:
    spec = HttpAuth.model_validate(auth)
    if ok:
        check_auth(spec, CIMultiDict(headers), body, SECRETS)
        return
    with pytest.raises(Rejection) as refused:
        check_auth(spec, CIMultiDict(headers), body, SECRETS)
    assert refused.value.status == 401 and refused.value.message == "missing or invalid credentials"


def test_an_unreadable_secret_is_a_503_that_names_nothing() -> None:
    spec = HttpAuth(bearer=SecretRef(secret="api", key="missing"))
    with pytest.raises(Rejection) as refused:
        check_auth(spec, CIMultiDict({"Authorization": "Bearer x"}), b"", SECRETS)
    assert refused.value.status == 503 and "api" not in refused.value.message


def _flow(schema: str) -> CompiledFlow:
    (flow,) = load_flows_text(
        "apiVersion: weir.dev/v1alpha1\nkind: Flow\nmetadata: {name: guarded}\nspec:\n"
        f"  trigger: {{rest: {{path: /g, schema: {schema}}}}}\n"
        "  nodes:\n    - {name: ok, transform: {set: 1}}\n"
    )
    return flow


def test_the_schema_is_compiled_once_per_revision_and_lists_every_failure() -> None:
    compiled: list[str] = []

    def schema_of(flow: CompiledFlow) -> dict[str, Any] | None:
        compiled.append(flow.revision)
        assert flow.flow.spec.trigger.rest is not None
        return flow.flow.spec.trigger.rest.schema_

    check = SchemaCheck(schema_of)
    first = _flow("{type: object, required: [a, b], properties: {c: {type: string}}}")
    assert check.failures(first, {"a": 1, "b": 2}) == []
    assert check.failures(first, {"c": 3}) == [
        "(root): 'a' is a required property",
        "(root): 'b' is a required property",
        "c: 3 is not of type 'string'",
    ]
    assert compiled == [first.revision]
    second = _flow("{type: array}")
    assert check.failures(second, {}) == ["(root): {} is not of type 'array'"]
    assert check.failures(first, {"a": 1, "b": 2}) == []  # a request still on the old revision
    assert compiled == [first.revision, second.revision]


async def test_the_replayed_body_is_given_once_then_receive_waits_for_the_end() -> None:
    async with replayed(b"payload") as receive:
        assert await receive() == {"type": "http.request", "body": b"payload", "more_body": False}
        listening = asyncio.ensure_future(receive())
        await asyncio.sleep(0.05)
        assert not listening.done()  # an SSE answer listens here; it must not spin
    assert await asyncio.wait_for(listening, 1) == {"type": "http.disconnect"}


async def test_asgi_chunks_end_with_the_last_message_and_refuse_a_disconnect() -> None:
    messages = iter(
        [
            {"type": "http.request", "body": b"ab", "more_body": True},
            {"type": "http.request", "body": b"cd", "more_body": False},
        ]
    )

    async def receive() -> dict[str, Any]:
        return next(messages)

    assert await read_body(asgi_chunks(receive), limit=10, timeout=1) == b"abcd"

    async def gone() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    with pytest.raises(Rejection) as refused:
        await read_body(asgi_chunks(gone), limit=10, timeout=1)
    assert refused.value.status == 400


def test_every_trigger_kind_of_the_spec_has_its_runtime_in_the_registry() -> None:
    assert sorted(TRIGGER_KINDS) == sorted(SPEC_KINDS)
    for name, kind in TRIGGER_KINDS.items():
        assert kind.name == name and kind.summary
        field = Trigger.model_fields[name]
        deferred = [m.load() for m in field.metadata if isinstance(m, Deferred)]  # polling ones
        assert kind.spec in (deferred or get_args(field.annotation))


def test_json_payloads_nest_at_most_max_depth_and_brackets_in_text_do_not_count() -> None:
    deepest = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert loads_json(deepest) == loads_json(deepest.encode())
    with pytest.raises(TooDeep):
        loads_json("[" + deepest + "]")
    with pytest.raises(TooDeep):
        loads_json('{"a":' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1))
    shallow = '{"text": "' + "[{" * 200 + '"}'
    assert loads_json(shallow) == {"text": "[{" * 200}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"n": NaN}', "NaN is not a JSON value"),
        ("[1e999]", "too large for a double"),
        ('\ufeff{"a": 1}', "Unexpected UTF-8 BOM"),
        ('{"a": }', "Expecting value"),
    ],
)
def test_json_payloads_refused_say_why(text: str, reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        loads_json(text)


def test_json_payloads_as_bytes_are_read_as_json_loads_reads_them() -> None:
    assert loads_json('{"é": 1.5}'.encode("utf-16")) == {"é": 1.5}
    assert loads_json(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}  # a UTF-8 BOM in bytes is skipped
