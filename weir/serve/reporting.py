"""In a cluster the runner tells its Flow how executions go: ``status.lastExecution`` and
succeeded/failed counts, written at most every ``interval`` seconds (a few writes a minute),
the latest state winning; the last report is flushed on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any

from weir.engine.executor import ExecutionListener, ExecutionResult
from weir.lang.times import iso

log = logging.getLogger("weir.reporting")
DEFAULT_INTERVAL = 15.0
CONFLICT_RETRIES = 10


class StatusReporter(ExecutionListener):
    def __init__(self, namespace: str, flow: str, *, interval: float = DEFAULT_INTERVAL) -> None:
        from weir.kube.client import Kube, in_cluster, resource_path

        if not in_cluster() and not os.environ.get("KUBECONFIG"):
            raise RuntimeError("status reporting needs in-cluster credentials or a kubeconfig")
        self.kube = Kube()
        self.path = resource_path("weir.dev/v1alpha1", "flows", namespace, flow) + "/status"
        self.interval = interval
        self.counts = {"succeeded": 0, "failed": 0}
        self.pending: dict[str, Any] | None = None
        self.writes = 0
        self._last_write = 0.0
        self._flusher: asyncio.Task[None] | None = None
        self._writing = asyncio.Lock()

    @classmethod
    def from_environment(cls) -> StatusReporter | None:
        if os.environ.get("WEIR_REPORT_STATUS", "").lower() != "true":
            return None
        flow, namespace = os.environ.get("WEIR_FLOW"), os.environ.get("WEIR_NAMESPACE")
        if not flow or not namespace:
            log.warning("WEIR_REPORT_STATUS is set but WEIR_FLOW or WEIR_NAMESPACE is not")
            return None
        interval = float(os.environ.get("WEIR_REPORT_INTERVAL", DEFAULT_INTERVAL))
        try:
            return cls(namespace, flow, interval=interval)
        except RuntimeError as exc:
            log.warning("not reporting to the Flow status: %s", exc)
            return None

    def execution_finished(self, result: ExecutionResult) -> None:
        if result.status in self.counts:
            self.counts[result.status] += 1
        error = result.error or {}
        self.pending = {
            "lastExecution": {
                "id": result.id,
                "phase": result.status,
                "startTime": iso(result.started_at),
                "finishTime": iso(result.finished_at),
                "durationMs": round(result.duration_ms, 1),
                "error": error.get("message"),
                "node": error.get("node"),
            },
        }
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_later())

    async def _flush_later(self) -> None:
        loop = asyncio.get_running_loop()
        wait = self._last_write + self.interval - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        await self.flush()

    async def flush(self) -> None:
        # One write at a time: a second would carry the counts the first is carrying.
        async with self._writing:
            if self.pending is None:
                return
            status, self.pending = self.pending, None
            # What this write carries: executions that finish while it is on its way are
            # counted by the next one, not wiped by this one.
            sent = dict(self.counts)
            try:
                await self._add_counts(status, sent)
                for key, value in sent.items():
                    self.counts[key] -= value
                self.writes += 1
            except Exception as exc:  # reporting must never break executions
                log.warning("could not report to the Flow status: %s", exc)
                self.pending = self.pending or status
            finally:
                self._last_write = asyncio.get_running_loop().time()

    async def _add_counts(self, status: dict[str, Any], sent: dict[str, int]) -> None:
        """Counts are kept per runner pod and added to what the Flow says, under the Flow's
        resourceVersion: when another replica wrote meanwhile, read again and add again."""
        from weir.kube.client import Conflict

        for _ in range(CONFLICT_RETRIES):
            current = await self.kube.get(self.path.removesuffix("/status"))
            known = ((current.get("status") or {}).get("executions")) or {}
            totals = {k: int(known.get(k, 0)) + v for k, v in sent.items()}
            version = current["metadata"].get("resourceVersion")
            patch = {
                "metadata": {"resourceVersion": version},
                "status": {**status, "executions": totals},
            }
            try:
                await self.kube.merge_patch(self.path, patch)
                return
            except Conflict:
                continue
        raise RuntimeError(f"the Flow kept changing; {CONFLICT_RETRIES} tries lost the race")

    async def aclose(self) -> None:
        flusher = self._flusher
        if flusher is not None and not flusher.done():
            if self._writing.locked():
                # A write on its way: let it land. Cancelled, its report would be lost, or,
                # if the API server applied it, its counts added twice by the next one.
                with contextlib.suppress(Exception):
                    await flusher
            else:  # only waiting for the interval: the flush below writes at once
                flusher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await flusher
        await self.flush()
        await self.kube.close()
