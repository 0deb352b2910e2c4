"""Acting on executions: replay one (a new execution naming the original), cancel one, start a
manual run with input. Each answers 202 once the run is started (or the cancel requested); the
outcome shows in the execution's record and on the event stream."""

from __future__ import annotations

from collections.abc import Awaitable

from aiohttp import web

from weir.console.access import RUN
from weir.console.cancel_children import cancel_children, waited_children
from weir.console.context import access_of, console_of
from weir.console.executions import readable_execution
from weir.console.models import (
    CancelAccepted,
    FlowQuery,
    ReplayAccepted,
    ReplayRequest,
    RunAccepted,
    RunRequest,
)
from weir.console.parsing import parse_body, parse_query, respond
from weir.console.problems import bad_request, conflict, not_found
from weir.console.runs import NotRunnable, Started, UnknownFlow
from weir.engine.children import tell_parent_cancelled
from weir.engine.replay import ReplayRefused
from weir.store.records import Status


async def _started(start: Awaitable[Started]) -> Started:
    """Await a start; what the backend refuses becomes a problem a client can act on."""
    try:
        return await start
    except UnknownFlow as exc:
        raise not_found(str(exc)) from None
    except (NotRunnable, ReplayRefused) as exc:
        raise conflict(str(exc)) from None


async def replay_execution(request: web.Request) -> web.Response:
    console = console_of(request)
    record, _nodes = await readable_execution(request, request.match_info["id"])
    await access_of(request).require(request, *RUN, namespace=record.namespace)
    body = await parse_body(request, ReplayRequest)
    if body.outputs and body.from_node is None:
        raise bad_request("body.outputs: replaces recorded outputs, so it needs body.from")
    patched_input = body.input if "input" in body.model_fields_set else None
    started = await _started(
        console.runs.start(
            record.flow,
            record.namespace,
            patched_input,
            replay_of=record.id,
            from_node=body.from_node,
            outputs=body.outputs,
        )
    )
    accepted = ReplayAccepted(
        id=started.execution_id, replay_of=record.id, flow_run=started.flow_run
    )
    return respond(accepted, 202)


async def cancel_execution(request: web.Request) -> web.Response:
    console = console_of(request)
    record, _nodes = await readable_execution(request, request.match_info["id"])
    await access_of(request).require(request, *RUN, namespace=record.namespace)
    children = await waited_children(console, record)  # before its waits close
    waits = console.store.waits()
    if record.status == Status.WAITING and await waits.cancel_waits(record.id):
        await tell_parent_cancelled(waits, record)  # a subflow's child: its parent goes on
        console.hub.wake()  # parked: cancelled at once, with its waits
        await cancel_children(console, children)
        return respond(CancelAccepted(id=record.id), 202)
    if record.status != Status.RUNNING:
        raise conflict(f"execution {record.id} is not running: it {record.status}")
    if not await console.runs.cancel(record):
        # Another process runs it: record the request; its runner long-polls for it.
        if await console.store.request_cancel(record.id) is None:
            raise conflict(f"execution {record.id} is not running any more")
        console.hub.wake()
    await cancel_children(console, children)
    return respond(CancelAccepted(id=record.id), 202)


async def start_run(request: web.Request) -> web.Response:
    console, access = console_of(request), access_of(request)
    name = request.match_info["name"]
    namespace = parse_query(request, FlowQuery).namespace or ""
    await access.require(request, *RUN, namespace=namespace)
    body = await parse_body(request, RunRequest)
    if await console.flows.get(namespace, name) is None:
        where = f" in namespace {namespace!r}" if namespace else ""
        raise not_found(f"no flow {name!r}{where}")
    parent = None if body.parent is None else body.parent.model_dump(by_alias=True)
    started = await _started(console.runs.start(name, namespace, body.input, parent=parent))
    return respond(RunAccepted(id=started.execution_id, flow_run=started.flow_run), 202)
