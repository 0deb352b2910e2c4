"""`weir console`: open the store, serve the API, follow the store's events, apply retention,
and stop gracefully.

Lifecycle: open (and upgrade) the store → build the flow source, the access rules and the runs
backend for the mode → bind the port → poll events, retention → ready. On SIGTERM or SIGINT:
not ready, end the event streams (clients reconnect elsewhere with their Last-Event-ID), stop
listening, let local runs finish within the grace period (the rest are recorded cancelled),
write what is queued, exit 0.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from weir.console.access import Access, OpenAccess
from weir.console.app import build_app
from weir.console.context import Console
from weir.console.events import EventHub
from weir.console.flows import ClusterFlows, FlowSource, LocalFlows
from weir.console.metrics import ConsoleMetrics
from weir.console.runs import LocalRuns, Runs
from weir.lang import heap

log = logging.getLogger("weir.console")

DAY = 86400.0
RETENTION_EVERY = 600.0
"""Seconds between retention passes (the first runs once the console is up)."""


class NotLoopback(ValueError):
    """Local mode has no authentication: it may listen only on this machine."""


@dataclass
class ConsoleOptions:
    paths: list[str] = field(default_factory=list)
    store: str | None = None
    host: str = "127.0.0.1"
    port: int = 8090
    kube: bool = False
    retain_days: float = 30.0
    retain_per_flow: int = 10_000
    secrets_dir: str | None = None
    grace: float = 30.0
    namespaces: list[str] | None = None
    """``--kube``: the namespaces served, when the console may not list the cluster's."""
    poll: float = 0.2
    ui: str | None = None
    """The built web app's directory; None: ``$WEIR_CONSOLE_UI`` or console-ui/dist."""
    gc_young: int | None = None
    """Allocations between young collections once serving (weir.lang.heap), which `weir
    console` sets; None leaves the process's collector alone (a console inside a test)."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ConsoleServer:
    """Everything `weir console` runs; ``start`` then ``stop``, or ``run`` until a signal."""

    def __init__(self, options: ConsoleOptions) -> None:
        self.options = options
        self.console: Console | None = None
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._kube: Any = None

    async def start(self) -> Console:
        from weir.store import open_store

        options = self.options
        if not options.kube and not is_loopback(options.host):
            raise NotLoopback(
                f"--host {options.host}: without --kube the console has no authentication, so "
                "it listens only on a loopback address (127.0.0.1, ::1)"
            )
        store = open_store(options.store)
        await store.start()
        try:
            hub = EventHub(store, poll=options.poll)
            flows, access, runs = self._mode(store, hub)
            console = Console(store, flows, runs, hub, ConsoleMetrics())
            self.console = console
            ui = Path(self.options.ui) if self.options.ui else None
            await self._serve(build_app(console, access, ui))
        except BaseException:
            await store.aclose()
            raise
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(hub.run()), loop.create_task(self._retention())]
        console.ready = True
        log.info(
            "console serving %s on http://%s:%s",
            "the cluster's flows" if options.kube else f"{len(options.paths)} flow paths",
            options.host,
            self.port,
        )
        return console

    def _mode(self, store: Any, hub: EventHub) -> tuple[FlowSource, Access, Runs]:
        options = self.options
        if not options.kube:
            flows = LocalFlows(list(options.paths))
            runs = LocalRuns(
                store, flows, hub.wake, secrets_dir=options.secrets_dir, grace=options.grace
            )
            runs.wake_parked()
            return flows, OpenAccess(), runs
        from weir.console.access import KubernetesAccess
        from weir.console.cluster_runs import ClusterRuns
        from weir.kube.client import Kube

        self._kube = Kube()
        access = KubernetesAccess(self._kube, scope=options.namespaces)
        return ClusterFlows(self._kube), access, ClusterRuns(self._kube, store=store)

    async def _serve(self, app: web.Application) -> None:
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, self.options.host, self.options.port)
        await self._site.start()
        sockets = getattr(self._site._server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self.options.port

    async def _retention(self) -> None:
        """Delete executions older than --retain-days and beyond --retain-per-flow per flow;
        never a running one (the store sees to that)."""
        assert self.console is not None
        max_age = self.options.retain_days * DAY if self.options.retain_days > 0 else None
        per_flow = self.options.retain_per_flow if self.options.retain_per_flow > 0 else None
        if max_age is None and per_flow is None:
            return
        while True:
            try:
                pruned = await self.console.store.prune(max_age=max_age, max_per_flow=per_flow)
            except Exception as exc:  # the next pass tries again
                log.warning("retention failed: %s", exc)
            else:
                self.console.metrics.pruned.inc(pruned)
                if pruned:
                    log.info("retention deleted %d executions", pruned)
            await asyncio.sleep(RETENTION_EVERY)

    async def stop(self) -> None:
        console = self.console
        if console is not None:
            console.ready, console.stopping = False, True
            console.hub.close()
        if self._site is not None:
            await self._site.stop()
        if console is not None:
            await console.runs.aclose()
        if self._runner is not None:
            await self._runner.cleanup()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if console is not None:
            await console.store.aclose()
            await console.flows.aclose()
        elif self._kube is not None:
            await self._kube.close()

    async def run(self, stop: asyncio.Event) -> int:
        """Serve until ``stop``."""
        await self.start()
        if self.options.gc_young is not None:
            heap.settle(self.options.gc_young)  # before the first request, not in the middle of one
        try:
            await stop.wait()
        finally:
            await self.stop()
        return 0


def serve_console(options: ConsoleOptions) -> int:
    """Run until SIGTERM/SIGINT; the exit code of the process."""
    from weir.logs import configure_logging
    from weir.secrets.redact import Redactor

    configure_logging(Redactor(), json_lines=None)

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        return await ConsoleServer(options).run(stop)

    return asyncio.run(main())
