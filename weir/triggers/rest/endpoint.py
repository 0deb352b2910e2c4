"""The REST trigger: one HTTP endpoint that runs the flow per request.

Checks, in order, each answered with a JSON error (a SOAP fault in SOAP mode), counted as
``rejected`` and logged as one warning line (429 and 503 only at debug): method (405),
draining (503), then the shared request guards (:mod:`weir.triggers.guards`: declared body
size 413, unreadable credentials 503, bearer or basic 401, the body's size 413, arrival 408 and
end 400, an HMAC signature 401), content type (415), body syntax (400: malformed, nested deeper
than ``MAX_DEPTH``, NaN or Infinity), JSON Schema (400 listing every failure), and last the
concurrency limit (429). Only a request that passed every check counts against the limit, so
slow or bad bodies cannot use it up.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from weir.engine.executor import TriggerEvent
from weir.engine.service import FlowService
from weir.flow.load import CompiledFlow
from weir.flow.triggers import RestTrigger
from weir.lang.ids import new_execution_id
from weir.store.base import RecordingUnavailable
from weir.triggers.guards import RequestGuards, SchemaCheck, log_refusal
from weir.triggers.kind import TriggerSettings
from weir.triggers.rejection import Rejection
from weir.triggers.rest.answer import EXECUTION_HEADER, answer, refusal
from weir.triggers.rest.payload import meta, parse
from weir.triggers.rest.route import CurrentPathResource
from weir.triggers.rest.soap import SoapVersion

log = logging.getLogger("weir.trigger.rest")


def _rest(flow: CompiledFlow) -> RestTrigger:
    trigger = flow.flow.spec.trigger.rest
    assert trigger is not None
    return trigger


class RestEndpoint:
    """Live from the start: requests reach it once the runner's port is bound."""

    live = True

    def __init__(self, service: FlowService, settings: TriggerSettings) -> None:
        self.service = service
        self.running = 0
        self.guards = RequestGuards("REST", service, settings.body_timeout, log)
        self.schema = SchemaCheck(lambda flow: _rest(flow).schema_)
        self._resource = CurrentPathResource(lambda: _rest(self.service.flow).path)
        self._resource.add_route("*", self.handle)

    def resources(self) -> Sequence[web.AbstractResource]:
        return [self._resource]

    def problem(self) -> str | None:
        return self.guards.problem(_rest(self.service.flow))

    def reloaded(self, old: CompiledFlow, new: CompiledFlow) -> None:
        """Nothing to do: every request reads the revision current when it arrives."""

    async def start(self) -> None:
        """Nothing to start: the runner's HTTP server serves the endpoint."""

    async def stop(self) -> None:
        """Nothing to stop: the runner stops listening, and draining refuses what still comes."""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        flow = self.service.flow  # this request runs on the revision current now
        trigger = _rest(flow)
        self._count("received")
        soap: SoapVersion | None = None
        try:
            payload, soap = await self._accept(request, trigger)
            return await self._run(request, flow, trigger, payload, soap)
        except Rejection as rejection:
            self._count("rejected")
            log_refusal(log, request.method, request.path, rejection)
            response = refusal(rejection, soap, trigger.soap)
            if rejection.close or not request.content.is_eof():
                response.force_close()  # the rest of the body is not worth reading
            return response

    async def _accept(
        self, request: web.Request, trigger: RestTrigger
    ) -> tuple[Any, SoapVersion | None]:
        """The payload of a request every check before the schema let through."""
        if request.method not in trigger.methods:
            raise Rejection(
                405,
                f"method {request.method} is not allowed on {trigger.path}",
                headers={"Allow": ", ".join(trigger.methods)},
            )
        if self.service.stopping:
            raise Rejection(503, "the runner is shutting down", headers={"Retry-After": "5"})
        content = request.content
        # A small body usually arrives with the headers: take it as it is, without a timer.
        body = content.read_nowait() if content.is_eof() else content.iter_chunked(64 * 1024)
        raw = await self.guards.admit(trigger, request.headers, request.content_length, body)
        return parse(request, raw, trigger)

    async def _run(
        self,
        request: web.Request,
        flow: CompiledFlow,
        trigger: RestTrigger,
        payload: Any,
        soap: SoapVersion | None,
    ) -> web.StreamResponse:
        failures = self.schema.failures(flow, payload)
        if failures:
            raise Rejection(400, "the payload does not match the schema", details=failures)
        if trigger.concurrency is not None and self.running >= trigger.concurrency:
            raise Rejection(
                429,
                f"{trigger.concurrency} requests are already running; retry later",
                headers={"Retry-After": "1"},
            )
        event = TriggerEvent(kind="rest", payload=payload, meta=meta(request))
        if trigger.mode == "async":
            execution_id = new_execution_id()
            try:
                await self.service.accept(event, execution_id)  # once recorded as running
            except RecordingUnavailable as exc:
                raise _unrecorded(exc) from None
            self._count("accepted")
            return web.json_response(
                {"executionId": execution_id, "status": "accepted"},
                status=202,
                headers={EXECUTION_HEADER: execution_id},
            )
        self.running += 1
        try:
            result = await self.service.execute(event, flow)
        except RecordingUnavailable as exc:
            raise _unrecorded(exc) from None
        finally:
            self.running -= 1
        return answer(result, trigger, payload, soap)

    def _count(self, outcome: str) -> None:
        self.service.metrics.trigger(self.service.name, "rest", outcome)


def _unrecorded(exc: RecordingUnavailable) -> Rejection:
    """The execution runs or ran, but an answer needs its record committed, and it is not."""
    headers = {"Retry-After": "5", EXECUTION_HEADER: exc.execution_id or ""}
    return Rejection(503, f"the execution is not recorded: {exc}", headers=headers)
