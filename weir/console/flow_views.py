"""``GET /api/v1/flows`` and ``/flows/{name}``: each flow with its status and how its recent
executions went (the last run, the success rate and the durations of the last few)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from weir.console.access import READ
from weir.console.context import Console, access_of, console_of, readable_namespaces
from weir.console.executions import summary_view
from weir.console.flows import FlowEntry
from weir.console.models import FlowDetail, FlowList, FlowQuery, FlowSummary
from weir.console.parsing import parse_query, respond
from weir.console.problems import not_found
from weir.store.query import ExecutionFilter

RECENT = 20
"""Executions a flow's success rate and durations are taken over."""


async def _recent(console: Console, flow: FlowEntry) -> dict[str, Any]:
    chosen = ExecutionFilter(flow=flow.name, namespace=flow.namespace)
    page = await console.store.list_summaries(chosen, limit=RECENT)
    finished = [row for row in page.items if str(row.status) not in ("running", "waiting")]
    succeeded = sum(1 for row in finished if str(row.status) == "succeeded")
    return {
        "namespace": flow.namespace,
        "name": flow.name,
        "trigger": flow.trigger,
        "status": flow.status,
        "conditions": flow.conditions,
        "last_run": summary_view(page.items[0]) if page.items else None,
        "success_rate": succeeded / len(finished) if finished else None,
        "recent_durations_ms": [
            row.duration_ms for row in reversed(finished) if row.duration_ms is not None
        ],
    }


async def list_flows(request: web.Request) -> web.Response:
    console = console_of(request)
    namespace = parse_query(request, FlowQuery).namespace
    allowed = await readable_namespaces(request, namespace)
    flows = await console.flows.entries(namespace=namespace, namespaces=allowed)
    flows.sort(key=lambda flow: (flow.namespace, flow.name))
    rows = await asyncio.gather(*(_recent(console, flow) for flow in flows))
    return respond(FlowList(items=[FlowSummary(**row) for row in rows]))


async def get_flow(request: web.Request) -> web.Response:
    console, access = console_of(request), access_of(request)
    name = request.match_info["name"]
    namespace = parse_query(request, FlowQuery).namespace or ""
    await access.require(request, *READ, namespace=namespace)
    flow = await console.flows.get(namespace, name)
    if flow is None:
        where = f" in namespace {namespace!r}" if namespace else ""
        raise not_found(f"no flow {name!r}{where}")
    row = await _recent(console, flow)
    return respond(FlowDetail(**row, spec=flow.spec, yaml=flow.yaml))
