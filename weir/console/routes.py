"""The route table: every endpoint with its handler and the models of what it takes and gives.
The app registers its routes from it (app.py) and the OpenAPI document describes it
(openapi.py): one list, so that what is documented is what is served."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from pydantic.alias_generators import to_camel

from weir.console import (
    actions,
    events,
    executions,
    flow_views,
    health,
    ingest,
    openapi,
    waits,
)
from weir.console.models import (
    ApiModel,
    CancelAccepted,
    Cancellations,
    CancellationsQuery,
    EventData,
    EventsQuery,
    ExecutionPage,
    ExecutionQuery,
    ExecutionView,
    FlowDetail,
    FlowList,
    FlowQuery,
    Health,
    IngestAccepted,
    IngestRequest,
    NodeDetail,
    Readiness,
    ReplayAccepted,
    ReplayRequest,
    RunAccepted,
    RunRequest,
)
from weir.console.wait_models import ResumeAccepted, ResumeRequest, WaitList, WaitView

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    query: type[ApiModel] | None = None
    body: type[ApiModel] | None = None
    body_required: bool = False
    response: type[ApiModel] | None = None
    status: int = 200
    errors: tuple[int, ...] = ()
    media_type: str = "application/json"
    stream: type[ApiModel] | None = None
    """For an event stream: the model of each event's data."""

    also: tuple[int, ...] = ()
    """Other statuses answered with the response model (readiness: 503)."""

    @property
    def operation_id(self) -> str:
        return to_camel(self.handler.__name__)


API = "/api/v1"
READ_ERRORS = (400, 401, 403, 503)
"""503: the API server cannot review the caller's token or rights (a cluster console)."""
ACT_ERRORS = (*READ_ERRORS, 404, 409)
WAIT_ERRORS = (*ACT_ERRORS, 410, 422)

ROUTES: tuple[Route, ...] = (
    Route("GET", f"{API}/flows", flow_views.list_flows, "Flows with their recent runs", "flows",
          query=FlowQuery, response=FlowList, errors=READ_ERRORS),
    Route("GET", f"{API}/flows/{{name}}", flow_views.get_flow, "One flow with its spec", "flows",
          query=FlowQuery, response=FlowDetail, errors=(*READ_ERRORS, 404)),
    Route("POST", f"{API}/flows/{{name}}/runs", actions.start_run,
          "Start a manual run with input", "runs", query=FlowQuery, body=RunRequest,
          response=RunAccepted, status=202, errors=ACT_ERRORS),
    Route("GET", f"{API}/executions", executions.list_executions,
          "Executions, newest first, filtered and paged by cursor", "executions",
          query=ExecutionQuery, response=ExecutionPage, errors=READ_ERRORS),
    Route("GET", f"{API}/executions/{{id}}", executions.get_execution,
          "One execution with its node runs (no node payloads)", "executions",
          response=ExecutionView, errors=(*READ_ERRORS, 404)),
    Route("GET", f"{API}/executions/{{id}}/nodes/{{seq}}", executions.get_node_run,
          "One node run with its input and output", "executions",
          response=NodeDetail, errors=(*READ_ERRORS, 404)),
    Route("POST", f"{API}/executions/{{id}}/replay", actions.replay_execution,
          "Replay an execution, in full or from a node, with patches", "runs",
          body=ReplayRequest, response=ReplayAccepted, status=202, errors=ACT_ERRORS),
    Route("POST", f"{API}/executions/{{id}}/cancel", actions.cancel_execution,
          "Cancel a running execution", "runs", response=CancelAccepted, status=202,
          errors=ACT_ERRORS),
    Route("GET", f"{API}/executions/{{id}}/waits", waits.list_waits,
          "The waits for a person of one execution", "waits", response=WaitList,
          errors=(*READ_ERRORS, 404)),
    Route("POST", f"{API}/executions/{{id}}/waits/{{waitId}}/resume",
          waits.resume_execution_wait, "Resume a waiting execution with a payload", "waits",
          body=ResumeRequest, response=ResumeAccepted, errors=WAIT_ERRORS),
    Route("GET", f"{API}/waits/{{token}}", waits.get_wait, "A wait by its resume token",
          "waits", response=WaitView, errors=(*READ_ERRORS, 404)),
    Route("POST", f"{API}/waits/{{token}}/resume", waits.resume_wait,
          "Resume the wait of a resume token with a payload", "waits", body=ResumeRequest,
          response=ResumeAccepted, errors=WAIT_ERRORS),
    Route("GET", "/waits/{token}", waits.link_get,
          "A resume URL: what is asked (the token is the credential)", "waits",
          response=WaitView, errors=(404,)),
    Route("POST", "/waits/{token}", waits.link_post,
          "A resume URL: POST the payload itself as JSON (the token is the credential)",
          "waits", errors=(400, 404, 409, 410, 413, 422)),
    Route("GET", f"{API}/events", events.stream_events,
          "Execution and node events as Server-Sent Events", "events", query=EventsQuery,
          media_type="text/event-stream", stream=EventData, errors=READ_ERRORS),
    Route("POST", f"{API}/ingest", ingest.ingest, "Ship executions from a runner", "runners",
          body=IngestRequest, body_required=True, response=IngestAccepted,
          errors=(*READ_ERRORS, 413)),
    Route("GET", f"{API}/cancellations", ingest.cancellations,
          "Long-poll for the cancels requested of a runner's executions", "runners",
          query=CancellationsQuery, response=Cancellations, errors=READ_ERRORS),
    Route("GET", f"{API}/openapi.json", openapi.serve_openapi, "This document", "meta"),
    Route("GET", "/healthz", health.healthz, "Liveness", "meta", response=Health),
    Route("GET", "/readyz", health.readyz, "Readiness", "meta", response=Readiness,
          also=(503,)),
    Route("GET", "/metrics", health.metrics, "Prometheus metrics", "meta",
          media_type="text/plain"),
)  # fmt: skip
