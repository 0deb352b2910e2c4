"""Reading executions: the filtered, cursor-paged list, one execution with its node runs (no
payloads), and one node run with its input and output.

Lists read only summary rows (weir.store.query); payloads are read one execution, or one node,
at a time. Executions of namespaces the caller may not read are filtered out in SQL.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp import web

from weir.console.access import READ
from weir.console.context import access_of, console_of, readable_namespaces
from weir.console.models import (
    ExecutionDetail,
    ExecutionPage,
    ExecutionQuery,
    ExecutionSummary,
    ExecutionView,
    NodeDetail,
    NodeSummary,
)
from weir.console.parsing import parse_query, respond
from weir.console.problems import bad_request, not_found
from weir.nodes.wait_token import without_secrets
from weir.store.query import MESSAGE_LIMIT, ExecutionFilter, InvalidQuery
from weir.store.records import ExecutionRecord, NodeRunRecord, Status, iso_time

STATUSES = {status.value for status in Status}


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else iso_time(epoch)


def _summary_fields(row: Any, error_message: str | None) -> dict[str, Any]:
    """What a list row shows, from a store's summary row or a whole execution record."""
    return {
        "id": row.id,
        "flow": row.flow,
        "namespace": row.namespace,
        "revision": row.revision,
        "trigger_kind": row.trigger_kind,
        "status": str(row.status),
        "started_at": iso_time(row.started_at),
        "finished_at": _iso(row.finished_at),
        "duration_ms": row.duration_ms,
        "error_type": row.error_type,
        "error_message": error_message,
        "replay_of": row.replay_of,
    }


def summary_view(row: Any) -> ExecutionSummary:
    """A store's ExecutionSummary (weir.store.query) as the API shows it."""
    return ExecutionSummary(**_summary_fields(row, row.error_message))


def execution_view(record: ExecutionRecord) -> ExecutionDetail:
    error = record.error
    message = error.get("message") if isinstance(error, dict) else None
    shown = str(message)[:MESSAGE_LIMIT] if message is not None else None
    return ExecutionDetail(
        **_summary_fields(record, shown), trigger=record.trigger, result=record.result, error=error
    )


def _node_fields(node: NodeRunRecord) -> dict[str, Any]:
    return {
        "seq": node.seq,
        "node": node.node,
        "kind": node.kind,
        "status": str(node.status),
        "started_at": iso_time(node.started_at),
        "finished_at": iso_time(node.finished_at),
        "duration_ms": node.duration_ms,
        "attempts": node.attempts,
        "error": node.error,
    }


def parse_time(text: str | None, name: str) -> float | None:
    """ISO 8601 (a time without a zone is UTC) or epoch seconds."""
    if text is None or not text.strip():
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise bad_request(
            f"query parameter {name}: {text!r} is neither ISO 8601 (2026-01-31T12:00:00Z) "
            "nor epoch seconds"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def _statuses(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    chosen = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [part for part in chosen if part not in STATUSES]
    if unknown:
        raise bad_request(
            f"query parameter status: unknown status {unknown[0]!r}; "
            f"choose from {', '.join(sorted(STATUSES))}"
        )
    return chosen


def execution_filter(query: ExecutionQuery, allowed: frozenset[str] | None) -> ExecutionFilter:
    since, until = parse_time(query.since, "since"), parse_time(query.until, "until")
    return ExecutionFilter(
        flow=query.flow or None,
        namespace=query.namespace,
        namespaces=allowed,
        statuses=_statuses(query.status),
        trigger=query.trigger or None,
        error_type=query.error_type or None,
        started_after=since,
        started_before=until,
        min_duration_ms=query.min_duration_ms,
        max_duration_ms=query.max_duration_ms,
        text=query.q or None,
        jsonpath=query.jsonpath or None,
        replay_of=query.replay_of or None,
    )


async def list_executions(request: web.Request) -> web.Response:
    console = console_of(request)
    query = parse_query(request, ExecutionQuery)
    allowed = await readable_namespaces(request, query.namespace)
    chosen = execution_filter(query, allowed)
    try:
        page = await console.store.list_summaries(chosen, cursor=query.cursor, limit=query.limit)
    except InvalidQuery as exc:
        raise bad_request(str(exc)) from None
    items = [summary_view(row) for row in page.items]
    return respond(ExecutionPage(items=items, next_cursor=page.next_cursor))


async def readable_execution(
    request: web.Request, execution_id: str
) -> tuple[ExecutionRecord, list[NodeRunRecord]]:
    """The execution with exactly this id, once the caller may read its namespace; 404 when
    there is none (or a prefix of several: the API takes whole ids)."""
    console, access = console_of(request), access_of(request)
    try:
        # Node payloads are never needed here: the node endpoint reads one, a replay its own.
        found = await console.store.get_execution(execution_id, payloads=False)
    except LookupError:  # an ambiguous prefix
        found = None
    if found is None or found[0].id != execution_id:
        raise not_found(f"no execution with id {execution_id!r}")
    # By the flow's name: a runner's Role may get its own flow only (a FlowRun's replay
    # reads its original here); a grant without names still covers it.
    await access.require(request, *READ, namespace=found[0].namespace, name=found[0].flow)
    return found


async def get_execution(request: web.Request) -> web.Response:
    record, nodes = await readable_execution(request, request.match_info["id"])
    view = ExecutionView(
        execution=execution_view(record),
        nodes=[NodeSummary(**_node_fields(node)) for node in nodes],
    )
    return respond(view)


async def get_node_run(request: web.Request) -> web.Response:
    execution_id, text = request.match_info["id"], request.match_info["seq"]
    try:
        seq = int(text)
    except ValueError:
        raise bad_request(f"path: node run seq {text!r} is not an integer") from None
    record, _nodes = await readable_execution(request, execution_id)
    node = await console_of(request).store.get_node_run(record.id, seq)
    if node is None:
        raise not_found(f"execution {execution_id!r} has no node run {seq}")
    # A waiting node's resume token is a credential: readers of an execution see it without
    # its secret, and resume through the console, which checks that they may.
    return respond(
        NodeDetail(
            **_node_fields(node),
            input=without_secrets(node.input),
            output=without_secrets(node.output),
        )
    )
