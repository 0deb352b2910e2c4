"""The test file: ``apiVersion: weir.dev/v1alpha1``, ``kind: FlowTest``, the flow it tests and
its cases, each with an input, mocks, secrets and expectations (docs/testing-flows.md).

Expectation values (``result``, ``outputs``, ``error``) are plain YAML read by ``matching``;
whether a key was written at all is told by ``model_fields_set`` (``result: null`` expects a
null result, no ``result`` expects nothing of it).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from weir.lang.durations import Duration
from weir.lang.types import Strict

KIND = "FlowTest"
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


class ErrorMock(Strict):
    """The error a mocked node fails with: its ``onError`` transition is taken, if any."""

    type: str = Field("error", min_length=1)
    message: str
    retryable: bool = False


class NodeMock(Strict):
    """A mocked node does not run: its recorded output is ``output``, or it fails with
    ``error``."""

    output: Any = None
    error: ErrorMock | None = None

    @model_validator(mode="after")
    def _one_outcome(self) -> NodeMock:
        if ("output" in self.model_fields_set) == (self.error is not None):
            raise ValueError("a node mock takes exactly one of output, error")
        return self


class HttpMock(Strict):
    """One answer to the requests whose method and URL match (the URL exact or a glob)."""

    method: str | None = Field(None, description="Any method if unset.")
    url: str = Field(min_length=1)
    status: int = Field(200, ge=100, le=599)
    json_: Any = Field(None, alias="json")
    body: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    times: int | None = Field(None, ge=1, description="Answers at most this many requests.")
    delay: Duration = Field(0.0, description="Answers after this long (to test timeouts).")

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.upper() not in HTTP_METHODS:
            raise ValueError(f"unknown HTTP method {value!r} (one of {', '.join(HTTP_METHODS)})")
        return value.upper()

    @model_validator(mode="after")
    def _one_body(self) -> HttpMock:
        if "json_" in self.model_fields_set and self.body is not None:
            raise ValueError("an HTTP mock answers with json or body, not both")
        return self


class Mocks(Strict):
    nodes: dict[str, NodeMock] = Field(default_factory=dict)
    http: list[HttpMock] = Field(default_factory=list)


class NodesTaken(Strict):
    """The nodes that ran, when their order does not matter."""

    anyOrder: list[str] | None = Field(None, description="Exactly these nodes, in any order.")
    includes: list[str] = Field(default_factory=list, description="These ran, among others.")
    excludes: list[str] = Field(default_factory=list, description="These did not run.")


class Expect(Strict):
    status: Literal["succeeded", "failed"] | None = Field(
        default=None, description="failed when `error` is expected, succeeded otherwise."
    )
    result: Any = None
    nodes: list[str] | NodesTaken | None = Field(
        default=None, description="The nodes that ran, in the order they finished; or a NodesTaken."
    )
    outputs: dict[str, Any] = Field(default_factory=dict)
    attempts: dict[str, int] = Field(
        default_factory=dict, description="Attempts per node (every item's, under forEach)."
    )
    error: Any = None
    requests: Any = Field(
        default=None, description="The HTTP requests made: method, url, headers, json or body."
    )

    def wanted_status(self) -> str:
        if self.status is not None:
            return self.status
        return "failed" if "error" in self.model_fields_set else "succeeded"


Secrets = dict[str, dict[str, str]]
"""Secret values by logical secret name and key: ``{crm: {token: dev-token}}``."""


class Case(Strict):
    name: str = Field(min_length=1)
    input: Any = Field(default_factory=dict, description="The trigger payload: $.input.")
    trigger: dict[str, Any] = Field(
        default_factory=dict, description="What $.trigger holds besides its kind."
    )
    mocks: Mocks = Field(default_factory=Mocks)
    resume: dict[str, Any] = Field(
        default_factory=dict,
        description="Payloads of wait nodes: each is resumed at once with its payload as its "
        "output, checked against the wait's schema.",
    )
    secrets: Secrets | None = None
    expect: Expect = Field(default_factory=Expect)
    timeout: Duration = Field(60.0, description="The case fails when its execution takes longer.")


class FlowTestSpec(Strict):
    flow: str = Field(min_length=1, description="The flow file, relative to the test file.")
    mocks: Mocks = Field(default_factory=Mocks, description="Mocks every case starts from.")
    secrets: Secrets | None = Field(None, description="Secrets every case starts from.")
    cases: list[Case] = Field(min_length=1, description="Each with a name of its own.")


class FlowTestMetadata(Strict):
    name: str = Field(min_length=1)


class FlowTest(Strict):
    apiVersion: Literal["weir.dev/v1alpha1"]
    kind: Literal["FlowTest"]
    metadata: FlowTestMetadata
    spec: FlowTestSpec


def case_mocks(spec: FlowTestSpec, case: Case) -> Mocks:
    """The file's mocks with the case's on top: a case's node mock replaces the file's of that
    node, and the case's HTTP mocks are tried before the file's. A resumed wait is a node mock
    whose output is the payload."""
    resumed = {node: NodeMock(output=payload) for node, payload in case.resume.items()}
    return Mocks(
        nodes={**spec.mocks.nodes, **case.mocks.nodes, **resumed},
        http=[*case.mocks.http, *spec.mocks.http],
    )


def case_secrets(spec: FlowTestSpec, case: Case) -> Secrets | None:
    """The file's secrets with the case's on top; None when neither gives any (then the local
    resolver answers, as for `weir run`)."""
    if spec.secrets is None and case.secrets is None:
        return None
    merged: Secrets = {name: dict(keys) for name, keys in (spec.secrets or {}).items()}
    for name, keys in (case.secrets or {}).items():
        merged.setdefault(name, {}).update(keys)
    return merged
