"""What runners call: ``POST /api/v1/ingest`` ships executions from a runner's outbox, and
``GET /api/v1/cancellations`` long-polls for the executions a user asked to cancel.

Ingest is idempotent by execution id (and node runs by their seq): a runner that did not hear
the answer sends the batch again and changes nothing. Every execution is read with the shared
codec (weir.store.wire) before anything is written, so a bad batch is refused whole, with a 400
naming the field.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from aiohttp import web

from weir.console.access import SHIP
from weir.console.context import access_of, console_of
from weir.console.models import (
    LATEST_EPOCH,
    Cancellations,
    CancellationsQuery,
    IngestAccepted,
)
from weir.console.parsing import parse_query, read_json, respond
from weir.console.problems import bad_request
from weir.store.sql import RUNNER_ID_LIMIT
from weir.store.wire import Shipped, WireError, execution_from_wire

CANCEL_POLL = 1.0
"""How often a long poll looks again for cancels requested through another console replica."""


def read_batch(data: Any) -> tuple[str, list[Shipped]]:
    if not isinstance(data, dict):
        raise bad_request("body: expected an object {runner, executions}")
    runner = data.get("runner")
    if not isinstance(runner, str) or not 0 < len(runner) <= RUNNER_ID_LIMIT:
        raise bad_request(
            f"body.runner: expected the runner's id (1 to {RUNNER_ID_LIMIT} characters)"
        )
    items = data.get("executions")
    if not isinstance(items, list):
        raise bad_request("body.executions: expected a list of executions")
    shipped = []
    for index, item in enumerate(items):
        where = f"body.executions[{index}]"
        try:
            record, nodes = execution_from_wire(item, where)
        except WireError as exc:
            raise bad_request(str(exc)) from None
        _check_times(where, [("startedAt", record.started_at), ("finishedAt", record.finished_at)])
        for number, node in enumerate(nodes):
            _check_times(
                f"{where}.nodes[{number}]",
                [("startedAt", node.started_at), ("finishedAt", node.finished_at)],
            )
        shipped.append((record, nodes))
    return runner, shipped


def _check_times(where: str, times: list[tuple[str, float | None]]) -> None:
    for name, value in times:
        if value is not None and not 0 <= value <= LATEST_EPOCH:
            raise bad_request(f"{where}.{name}: expected epoch seconds between 0 and year 3000")


async def ingest(request: web.Request) -> web.Response:
    console, access = console_of(request), access_of(request)
    runner, shipped = read_batch(await read_json(request))
    for namespace, flow in sorted({(record.namespace, record.flow) for record, _ in shipped}):
        await access.require(request, *SHIP, namespace=namespace, name=flow)
    changed = await console.store.ingest(shipped, runner=runner) if shipped else 0
    console.metrics.ingest_batches.inc()
    console.metrics.ingested.inc(changed)
    if changed:
        console.hub.wake()
    return respond(IngestAccepted(accepted=changed))


async def cancellations(request: web.Request) -> web.Response:
    """The ids at once when there are some, else after the first cancel requested within
    ``wait`` seconds, else an empty list."""
    console = console_of(request)
    query = parse_query(request, CancellationsQuery)
    await access_of(request).require(
        request, *SHIP, namespace=query.namespace, name=query.flow or None
    )
    deadline = time.monotonic() + query.wait
    while True:
        waiter = console.hub.waiter()
        found = await console.store.cancellations(query.runner)
        remaining = deadline - time.monotonic()
        if found or remaining <= 0 or console.hub.closed:
            return respond(Cancellations(executions=list(found)))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(min(remaining, CANCEL_POLL)):
                await waiter.wait()
