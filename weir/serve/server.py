"""`weir serve`: one flow behind its trigger, with health, readiness, metrics, hot reload and a
graceful shutdown.

Lifecycle: load the flow (an invalid file exits 2) → open the store → build the trigger's
runtime from the registry (:mod:`weir.triggers`) → bind the HTTP port with the trigger's
resources mounted → start the trigger → ready. ``/readyz`` answers 503 with a ``reason`` while
the runner starts, stops, waits for its trigger (a broker), or cannot read the secrets an HTTP
trigger's credentials need. On SIGTERM or SIGINT: not ready, stop listening and stop the
trigger taking work, let executions in flight finish within the grace period, write the
remaining records, exit 0.

With a store, a waker (weir.engine.waker) resumes the flow's parked executions as their waits
come due, here or after a restart, on any replica sharing the store; it stops claiming at
SIGTERM, and resumes under way drain with the other executions.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from aiohttp import web

from weir.engine.executor import Engine, ExecutionListener
from weir.engine.metrics import CONTENT_TYPE, RunnerMetrics
from weir.engine.service import FlowService
from weir.engine.state_choice import use_state
from weir.engine.waker import Waker
from weir.flow.load import CompiledFlow
from weir.lang import heap
from weir.nodes.breaker import circuits_of
from weir.secrets.redact import Redactor
from weir.secrets.store import local_resolver
from weir.serve.link import ConsoleLink, ConsoleSettings
from weir.serve.retention import sweep_state
from weir.serve.subflows import RunnerChildren
from weir.serve.watch import watch
from weir.store.base import RecordingUnavailable
from weir.triggers import TRIGGER_KINDS
from weir.triggers.guards.body import body_timeout_from_environment
from weir.triggers.kind import TriggerRuntime, TriggerSettings
from weir.triggers.wait_link import get_link, post_link

log = logging.getLogger("weir.serve")
SHIP_AT_STOP = 3.0
"""Seconds shipping gets at stop when draining executions took the whole grace period: the
operator gives a pod 5 s more than that."""


class _HttpLog(logging.LoggerAdapter[logging.Logger]):
    """aiohttp's server logger, minus the traceback for a request that was malformed HTTP
    (bad framing, a bad header): one warning line, as for every other refused request.
    Failures of the server itself keep their traceback."""

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        from aiohttp.http_exceptions import HttpProcessingError

        if isinstance(exc_info, HttpProcessingError):
            reason = " ".join(str(exc_info.message).split())[:200]
            self.warning("malformed HTTP request: %d %s", exc_info.code, reason)
        else:
            self.error(msg, *args, exc_info=exc_info, **kwargs)


@dataclass
class ServeOptions:
    file: str
    host: str = "0.0.0.0"
    port: int = 8080
    grace: float = 30.0
    store: str | None = None
    no_store: bool = False
    state: str | None = None
    """Redis URL of the state node's keys (weir.engine.state_choice); None: the store's."""
    secrets_dir: str | None = None
    watch_interval: float = 1.0
    console: ConsoleSettings | None = None
    gc_young: int | None = None
    """Allocations between young collections once serving (weir.lang.heap), which `weir serve`
    sets; None leaves the process's collector alone, as a runner inside another program (a
    test) should."""


class Runner:
    """Everything `weir serve` runs; ``run()`` returns when the process should exit."""

    def __init__(self, options: ServeOptions, redactor: Redactor) -> None:
        self.options = options
        self.redactor = redactor
        self.metrics = RunnerMetrics()
        self.service: FlowService | None = None
        self.trigger: TriggerRuntime | None = None
        self.console: ConsoleLink | None = None
        self.ready = False
        self.port: int | None = None
        self._stop = asyncio.Event()
        self._site: web.TCPSite | None = None
        self._app_runner: web.AppRunner | None = None
        self.waker: Waker | None = None
        self.children: RunnerChildren | None = None

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self, started: asyncio.Event | None = None) -> int:
        from weir.serve.reporting import StatusReporter
        from weir.store import open_store

        store = None
        if not self.options.no_store:
            store = open_store(self.options.store)
            await store.start()
        listeners: list[ExecutionListener] = [self.metrics]
        reporter = StatusReporter.from_environment()
        if reporter is not None:
            listeners.append(reporter)
        engine = Engine(
            store=store,
            secrets=local_resolver(self.options.secrets_dir),
            listeners=listeners,
            redactor=self.redactor,
        )
        use_state(engine, self.options.state)
        service = self.service = FlowService(self.options.file, engine, self.metrics)
        self.metrics.circuits.watch(circuits_of(engine.resources))
        service.reload_hooks.append(self._on_reload)
        try:
            self._link_console(store, service)
            link = self.console
            self.children = RunnerChildren(service, None if link is None else link.client)
            self.trigger = self._make_trigger(service)
            await self._start_http(self.trigger)
            await self.trigger.start()
            if self.options.gc_young is not None:  # before the first request, not amid one
                heap.settle(self.options.gc_young)
            self.ready = True
            log.info(
                "serving flow %s (revision %s, %s trigger) on port %s",
                service.name,
                service.flow.revision,
                service.flow.flow.spec.trigger.kind,
                self.port,
            )
            if started is not None:
                started.set()
            loop = asyncio.get_running_loop()
            watcher = loop.create_task(
                watch(Path(self.options.file), service.reload, self.options.watch_interval)
            )
            # Redis expires its keys itself: only the store's table needs sweeping.
            sweeper = None
            if store is not None and self.options.state is None:
                sweeper = loop.create_task(sweep_state(store.state()))
            if store is not None:
                self._start_waker(store, service)
            await self._stop.wait()
            watcher.cancel()
            if sweeper is not None:
                sweeper.cancel()
            await self._shutdown()
        finally:
            if self._app_runner is not None:
                await self._app_runner.cleanup()
            if self.console is not None:
                await self.console.aclose()
            await engine.aclose()
            if reporter is not None:
                await reporter.aclose()
        return 0

    def _start_waker(self, store: Any, service: FlowService) -> None:
        gauge = self.metrics.waits.waiting
        children = self.children
        self.waker = Waker(
            store.waits(),
            service.resume if children is None else children.resume,
            flows=(lambda: [service.name]) if children is None else children.flows,
            counted=lambda count: gauge.labels(service.name).set(count),
        )
        self.waker.start()
        if self.children is not None:
            self.children.attach(self.waker)

    def _link_console(self, store: Any, service: FlowService) -> None:
        settings = self.options.console
        if settings is None:
            return
        if store is None:
            log.warning(
                "not shipping to the console at %s: --no-store records nothing", settings.url
            )
            return
        self.console = ConsoleLink(
            settings,
            store,
            self.metrics.outbox,
            service.cancel,
            flow=service.name,
            namespace=os.environ.get("WEIR_NAMESPACE", ""),
        )
        service.engine.listeners.append(self.console.listener)
        self.console.start()

    def _make_trigger(self, service: FlowService) -> TriggerRuntime:
        kind = TRIGGER_KINDS[service.flow.flow.spec.trigger.kind]
        settings = TriggerSettings(
            grace=self.options.grace, body_timeout=body_timeout_from_environment()
        )
        return kind.runtime(service, settings)

    async def _start_http(self, trigger: TriggerRuntime) -> None:
        app = web.Application(client_max_size=1024**3)  # the trigger enforces its own limit
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        store: Any = self.service.engine.store if self.service is not None else None
        if store is not None:  # a person's wait's resume URL (weir.triggers.wait_link)
            waits = store.waits()
            app.router.add_get("/waits/{token}", partial(get_link, waits))
            app.router.add_post("/waits/{token}", partial(post_link, waits, resolved=self._poke))
        for resource in trigger.resources():
            app.router.register_resource(resource)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        self._app_runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            logger=_HttpLog(logging.getLogger("aiohttp.server")),
        )
        await self._app_runner.setup()
        self._site = web.TCPSite(self._app_runner, self.options.host, self.options.port)
        await self._site.start()
        server = self._site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self.options.port

    def _poke(self) -> None:
        if self.waker is not None:
            self.waker.poke()

    def _on_reload(self, old: CompiledFlow, new: CompiledFlow) -> None:
        if self.trigger is not None:
            self.trigger.reloaded(old, new)
        if self.options.gc_young is not None:
            heap.settle(self.options.gc_young)  # frees the previous revision, freezes this one

    async def _shutdown(self) -> None:
        assert self.service is not None
        began = time.monotonic()
        log.info(
            "stopping: no new work; waiting up to %.0fs for %d executions",
            self.options.grace,
            self.service.in_flight,
        )
        self.ready = False
        self.service.stopping = True
        if self._site is not None:
            await self._site.stop()  # stop listening; open connections finish their requests
        if self.trigger is not None:
            await self.trigger.stop()
        if self.waker is not None:
            await self.waker.stop()
        if self.children is not None:
            await self.children.stop()
        await self.service.drain(self.options.grace)
        if self.console is not None:
            await self._ship_rest(self.options.grace - (time.monotonic() - began))
        log.info("stopped")

    async def _ship_rest(self, left: float) -> None:
        """Commit what the executions recorded and ship it in what is left of the grace
        period; at least SHIP_AT_STOP seconds (the pod's grace is a little longer)."""
        assert self.console is not None
        left = max(left, SHIP_AT_STOP)
        store = self.service.engine.store if self.service is not None else None
        began = time.monotonic()
        if store is not None:
            try:
                await store.durable(left)
            except RecordingUnavailable as exc:
                log.error("not shipping at stop: %s", exc)
        await self.console.stop(left - (time.monotonic() - began))

    # HTTP handlers

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _readyz(self, request: web.Request) -> web.Response:
        service, trigger = self.service, self.trigger
        live = trigger is not None and trigger.live
        reason: str | None = None
        if not self.ready or service is None or trigger is None:
            reason = "starting"
        elif service.stopping:
            reason = "shutting down"
        elif not live:
            reason = f"the {service.flow.flow.spec.trigger.kind} trigger is not live yet"
        else:
            reason = trigger.problem()
            if reason is None and self.console is not None:
                reason = self.console.problem()
        ready = reason is None
        body: dict[str, Any] = {"ready": ready}
        if reason is not None:
            body["reason"] = reason
        if service is not None:
            body.update(
                flow=service.name,
                revision=service.flow.revision,
                trigger=service.flow.flow.spec.trigger.kind,
                triggerLive=live,
                inFlight=service.in_flight,
            )
            if service.reload_error:
                body["reloadError"] = service.reload_error
            # Listed, never a reason to be unready: another replica would meet the same open
            # circuit, and taking runners out of the Service would turn one failing dependency
            # into an outage of the whole flow (docs/circuit-breakers.md).
            body["openCircuits"] = circuits_of(service.engine.resources).not_closed()
        if self.console is not None:
            body["outboxBacklog"] = self.console.shipper.backlog
        return web.json_response(body, status=200 if ready else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})

    async def _not_found(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"error": {"status": 404, "message": f"no endpoint at {request.path}"}}, status=404
        )


def serve(options: ServeOptions) -> int:
    """Run until SIGTERM/SIGINT; the exit code of the process."""
    from weir.flow.issues import FlowInvalid
    from weir.logs import configure_logging

    redactor = Redactor()
    configure_logging(redactor, json_lines=None)

    async def main() -> int:
        runner = Runner(options, redactor)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, runner.request_stop)
        return await runner.run()

    try:
        return asyncio.run(main())
    except FlowInvalid as exc:
        for issue in exc.issues:
            print(issue, flush=True, file=sys.stderr)
        return 2
    except OSError as exc:
        log.error("cannot start: %s", exc)
        return 1
