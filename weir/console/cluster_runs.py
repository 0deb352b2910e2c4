"""Runs in a cluster: the console starts a run or a replay by creating a FlowRun, which the
operator turns into a Job from the flow's runner pod (docs/flowruns.md), and cancels a
FlowRun's execution by marking the FlowRun Cancelled and deleting its Job.

The console names the execution before it runs: it writes the id into the new FlowRun's
status, which the runner then uses, so that a 202 carries an id a client can follow at once.
Status is a subresource: a user who may only create FlowRuns cannot choose an id (the
apiserver ignores the status of a create), so no one can make a run overwrite another
execution's record.
"""

from __future__ import annotations

from typing import Any

from weir.console.runs import Started, UnknownFlow
from weir.flow.flowrun import FINISHED
from weir.flow.flowrun_status import phase_status
from weir.flow.model import API_VERSION
from weir.kube.client import Conflict, Kube, NotFound, resource_path
from weir.lang.ids import new_execution_id
from weir.lang.times import now
from weir.store.records import ExecutionRecord

CONFLICT_RETRIES = 5
MANAGED_BY = {"app.kubernetes.io/managed-by": "weir-console"}


class ClusterRuns:
    def __init__(self, kube: Kube, store: Any) -> None:
        self.kube = kube
        self.store = store

    def _path(self, namespace: str, name: str | None = None) -> str:
        return resource_path(API_VERSION, "flowruns", namespace, name)

    async def start(
        self,
        flow: str,
        namespace: str,
        input: Any,
        *,
        replay_of: str | None = None,
        from_node: str | None = None,
        outputs: dict[str, Any] | None = None,
        parent: dict[str, Any] | None = None,
    ) -> Started:
        if not namespace:  # an execution recorded outside the cluster, replayed here
            raise UnknownFlow(f"flow {flow!r} has no namespace: it did not run in this cluster")
        try:
            await self.kube.get(resource_path(API_VERSION, "flows", namespace, flow))
        except NotFound:
            raise UnknownFlow(f"no flow {flow!r} in namespace {namespace!r}") from None
        execution_id = new_execution_id()
        spec: dict[str, Any] = {"flowRef": flow}
        if input is not None:
            spec["input"] = input
        if replay_of is not None:
            spec["replayOf"] = replay_of
        if from_node is not None:
            spec["from"] = from_node
        if outputs:
            spec["outputs"] = outputs
        if parent is not None:
            spec["parent"] = parent
        body = {
            "apiVersion": API_VERSION,
            "kind": "FlowRun",
            "metadata": {
                "name": f"{flow}-{execution_id[-8:]}",
                "labels": {**MANAGED_BY, "weir.dev/flow": flow},
            },
            "spec": spec,
        }
        created = await self.kube.request("POST", self._path(namespace), json=body)
        name = created["metadata"]["name"]
        pending = phase_status(
            "Pending", "Created", "created by the console", executionId=execution_id
        )
        assigned = await self._assign(namespace, name, created, pending)
        return Started(execution_id=assigned, flow_run=name)

    async def _assign(
        self, namespace: str, name: str, current: dict[str, Any], status: dict[str, Any]
    ) -> str:
        """Write the execution id into the FlowRun's status unless its runner (or anyone)
        wrote one first: then that one is the run's."""
        path = self._path(namespace, name) + "/status"
        for _ in range(CONFLICT_RETRIES):
            written = (current.get("status") or {}).get("executionId")
            if written:
                return str(written)
            version = {"resourceVersion": current["metadata"]["resourceVersion"]}
            try:
                await self.kube.merge_patch(path, {"metadata": version, "status": status})
                return str(status["executionId"])
            except Conflict:
                current = await self.kube.get(self._path(namespace, name))
        raise Conflict(409, f"FlowRun {name} kept changing", method="PATCH", path=path)

    async def cancel(self, record: ExecutionRecord) -> bool:
        """Cancel a FlowRun's execution: Cancelled (conditional on the FlowRun's version, so
        an outcome already written stands), then its Job deleted, whose Pod's runner cancels
        the execution on SIGTERM. False for an execution no running FlowRun holds: the
        console then asks its runner through the store."""
        if not record.namespace:
            return False
        for _ in range(CONFLICT_RETRIES):
            flowrun = await self._holding(record)
            if flowrun is None:
                return False
            status = flowrun.get("status") or {}
            if status.get("phase") in FINISHED:
                return False
            meta = flowrun["metadata"]
            cancelled = phase_status(
                "Cancelled", "Cancelled", f"execution {record.id} cancelled from the console",
                finishedAt=now(), error={"type": "cancelled", "message": "cancelled"},
            )  # fmt: skip
            patch = {"metadata": {"resourceVersion": meta["resourceVersion"]}, "status": cancelled}
            try:
                await self.kube.merge_patch(
                    self._path(record.namespace, meta["name"]) + "/status", patch
                )
            except Conflict:
                continue
            if status.get("job"):
                job = resource_path("batch/v1", "jobs", record.namespace, status["job"])
                await self.kube.delete(job)
            return True
        return False

    async def _holding(self, record: ExecutionRecord) -> dict[str, Any] | None:
        """The FlowRun of this execution: FlowRuns are few per namespace (their TTL), and
        a status field cannot be selected on, so they are listed and looked through."""
        listing = await self.kube.get(self._path(record.namespace))
        for item in listing.get("items") or []:
            if (item.get("status") or {}).get("executionId") == record.id:
                return dict(item)
        return None

    async def aclose(self) -> None:
        pass  # the Kube client is the console's: it closes it
