"""Every request and response of the console's API as a pydantic model: the handlers validate
with them and serialise through them, and the OpenAPI document is generated from them
(openapi.py), so the document cannot drift from what is served.

JSON names are camelCase; times are ISO 8601 text in UTC (as `weir executions --json` prints
them), except in shipped executions, which carry epoch seconds (weir.store.wire).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

Status = Literal["running", "waiting", "succeeded", "failed", "cancelled", "interrupted"]
NodeStatus = Literal["running", "waiting", "succeeded", "failed", "cancelled", "interrupted"]
DateTime = Field(json_schema_extra={"format": "date-time"})
LATEST_EPOCH = 32503680000.0
"""The year 3000: a shipped time past it is refused rather than stored (it cannot be shown)."""
MAX_PAGE = 500


class ApiModel(BaseModel):
    """camelCase on the wire; unknown fields in a request are an error naming them."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    def json_bytes(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode()


class ProblemDetails(ApiModel):
    title: str
    status: int
    detail: str


# Executions


class ExecutionSummary(ApiModel):
    """A list row: never a payload, at most about 1 KB."""

    id: str
    flow: str
    namespace: str
    revision: str
    trigger_kind: str
    status: Status
    started_at: str = DateTime
    finished_at: str | None = DateTime
    duration_ms: float | None
    error_type: str | None
    error_message: str | None = Field(description="the first 200 characters")
    replay_of: str | None


class ExecutionPage(ApiModel):
    items: list[ExecutionSummary]
    next_cursor: str | None = Field(description="pass as cursor for the next page; null: last")


class ExecutionDetail(ExecutionSummary):
    trigger: dict[str, Any] = Field(description="the trigger's payload and metadata")
    result: Any = None
    error: dict[str, Any] | None = None


class NodeSummary(ApiModel):
    seq: int
    node: str
    kind: str
    status: NodeStatus
    started_at: str = DateTime
    finished_at: str = DateTime
    duration_ms: float
    attempts: list[dict[str, Any]]
    error: dict[str, Any] | None


class NodeDetail(NodeSummary):
    input: Any = None
    output: Any = None


class ExecutionView(ApiModel):
    execution: ExecutionDetail
    nodes: list[NodeSummary] = Field(description="in run order, without their payloads")


class ExecutionQuery(ApiModel):
    flow: str | None = None
    namespace: str | None = None
    status: str | None = Field(
        None, description="one status or several separated by commas: failed,cancelled"
    )
    trigger: str | None = Field(None, description="the trigger kind: manual, cron, rest …")
    error_type: str | None = None
    since: str | None = Field(None, description="started at or after: ISO 8601 or epoch seconds")
    until: str | None = Field(None, description="started before: ISO 8601 or epoch seconds")
    min_duration_ms: float | None = Field(None, ge=0)
    max_duration_ms: float | None = Field(None, ge=0)
    q: str | None = Field(None, description="text in the trigger payload, the result or the error")
    jsonpath: str | None = Field(
        None,
        description='a predicate over {"input", "output", "error"}: $.input.customer == "ACME"',
    )
    replay_of: str | None = None
    cursor: str | None = None
    limit: int = Field(50, ge=1, le=MAX_PAGE)


# Flows


class FlowSummary(ApiModel):
    namespace: str
    name: str
    trigger: str = Field(description="the trigger kind")
    status: str = Field(description="Ready, Invalid, or the Flow's phase in a cluster")
    conditions: list[dict[str, Any]]
    last_run: ExecutionSummary | None
    success_rate: float | None = Field(description="of the recent finished executions, 0 to 1")
    recent_durations_ms: list[float] = Field(description="of the recent finished executions")


class FlowList(ApiModel):
    items: list[FlowSummary]


class FlowDetail(FlowSummary):
    spec: dict[str, Any]
    yaml: str


class FlowQuery(ApiModel):
    namespace: str | None = None


# Runs, replays, cancels


class ReplayRequest(ApiModel):
    from_node: str | None = Field(None, alias="from", description="replay from this node on")
    input: Any = Field(None, description="the trigger payload to use instead of the recorded one")
    outputs: dict[str, Any] | None = Field(
        None, description="recorded outputs to replace, by node (with from)"
    )
    revision: Literal["current"] | None = Field(
        None, description="the flow's revision to run: the current one"
    )


class ReplayAccepted(ApiModel):
    id: str
    replay_of: str
    flow_run: str | None = None


class ParentRef(ApiModel):
    """The execution whose subflow node starts this run (docs/nodes/subflow.md)."""

    execution_id: str = Field(min_length=1, max_length=32)
    node: str = Field(min_length=1, max_length=63)
    flow: str = Field(min_length=1, max_length=253)
    depth: int = Field(1, ge=1, le=100, description="how deep the subflow calls nest")


class RunRequest(ApiModel):
    input: Any = None
    parent: ParentRef | None = Field(
        None, description="set by a runner's subflow node: the child names it in $.trigger.parent"
    )


class RunAccepted(ApiModel):
    id: str
    flow_run: str | None = None


class CancelAccepted(ApiModel):
    id: str
    status: Literal["cancelling"] = "cancelling"


# Runners: ingest and cancellations


class WireNode(ApiModel):
    """A node run as shipped (weir.store.wire): times in epoch seconds."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    seq: int = Field(ge=1, le=2**31 - 1)
    node: str = Field(min_length=1, max_length=63)
    kind: str = Field(min_length=1, max_length=32)
    status: NodeStatus
    started_at: float = Field(ge=0, le=LATEST_EPOCH)
    finished_at: float = Field(ge=0, le=LATEST_EPOCH)
    attempts: list[dict[str, Any]] | None = None
    input: Any = None
    output: Any = None
    error: dict[str, Any] | None = None


class WireExecution(ApiModel):
    """An execution as shipped (weir.store.wire): the whole record with all its node runs."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    id: str = Field(min_length=1, max_length=32)
    flow: str = Field(min_length=1, max_length=253)
    namespace: str = Field("", max_length=63)
    revision: str = Field(min_length=1, max_length=64)
    trigger_kind: str = Field(min_length=1, max_length=16)
    trigger: dict[str, Any] | None = None
    status: Status
    started_at: float = Field(ge=0, le=LATEST_EPOCH)
    finished_at: float | None = Field(None, ge=0, le=LATEST_EPOCH)
    error: dict[str, Any] | None = None
    result: Any = None
    replay_of: str | None = Field(None, min_length=1, max_length=32)
    nodes: list[WireNode] | None = None


class IngestRequest(ApiModel):
    runner: str = Field(min_length=1, max_length=32, description="the shipping runner's id")
    executions: list[WireExecution] = Field(max_length=10_000)


class IngestAccepted(ApiModel):
    accepted: int = Field(description="executions that changed (a repeat changes none)")


class CancellationsQuery(ApiModel):
    runner: str = Field(min_length=1, max_length=32)
    wait: float = Field(0, ge=0, le=60, description="seconds to wait for one (long poll)")
    flow: str | None = Field(None, description="the runner's flow: what a runner may read")
    namespace: str = ""


class Cancellations(ApiModel):
    executions: list[str]


# Events


class EventsQuery(ApiModel):
    flow: str | None = None
    namespace: str | None = None
    execution: str | None = None
    last_event_id: int | None = Field(
        None, ge=0, description="resume after this event (or the Last-Event-ID header)"
    )


class EventData(ApiModel):
    """The data of one server-sent event; its ``id`` is ``seq``, its ``event`` is ``type``."""

    seq: int
    type: Literal["execution", "node"]
    execution_id: str
    flow: str
    namespace: str
    status: str
    node: str | None
    node_seq: int | None
    at: str = DateTime


# Health


class Health(ApiModel):
    status: Literal["ok"] = "ok"


class Readiness(ApiModel):
    ready: bool
    reason: str | None = None
