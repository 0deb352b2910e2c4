"""What the operator does for a FlowRun: render and create its Job from the Flow's runner pod,
mirror a Job that failed without its runner reporting, and delete FlowRuns past their TTL.
No kopf here: ``flowrun_handlers`` calls these."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from weir.flow.flowrun import API_VERSION, FINISHED, PLURAL, FlowRunInvalid, parse_spec
from weir.flow.flowrun_status import failed_status, job_outcome, phase_status
from weir.flow.issues import FlowInvalid
from weir.flow.load import compile_flow
from weir.kube.client import Conflict, Kube, NotFound, resource_path
from weir.operator.reconcile import render_input, user_document
from weir.operator.render import Owner, render_flowrun_job
from weir.operator.secretrefs import check_secrets
from weir.operator.settings import RenderSettings

CONFLICT_RETRIES = 5


class FlowRunWaiting(Exception):
    """The run cannot start yet (its Flow or a Secret does not exist yet): it stays Pending
    and is tried again."""


@dataclass(frozen=True)
class FlowRunKey:
    namespace: str
    name: str

    @property
    def path(self) -> str:
        return resource_path(API_VERSION, PLURAL, self.namespace, self.name)


def flowrun_owner(body: dict[str, Any]) -> Owner:
    meta = body["metadata"]
    return Owner(name=meta["name"], uid=meta.get("uid", ""), kind="FlowRun")


async def start(kube: Kube, body: dict[str, Any], settings: RenderSettings) -> None:
    """Create the FlowRun's Job and write its status: Pending with the Job's name (before the
    Job exists, so that the runner's Running is never overwritten), or Failed with the reason
    it cannot run; nothing for a FlowRun finished meanwhile (cancelled before it started).
    Raises FlowRunWaiting while its Flow or secrets are missing."""
    key = FlowRunKey(body["metadata"].get("namespace") or "default", body["metadata"]["name"])
    try:
        job = await _render_job(kube, body, settings)
    except FlowRunFailed as exc:
        await report_unless_finished(kube, key, exc.status)
        return
    name = job["metadata"]["name"]
    path = resource_path("batch/v1", "jobs", key.namespace, name)
    try:
        existing = await kube.get(path)
    except NotFound:
        existing = None
    if existing is not None and not _owned_by(existing, body["metadata"].get("uid", "")):
        message = f"Job {key.namespace}/{name} exists and is not this run's"
        await report_unless_finished(kube, key, failed_status("NameTaken", message))
        return
    pending = phase_status("Pending", "JobCreated", f"Job {name} created", job=name)
    if await report_unless_finished(kube, key, pending) and existing is None:
        await kube.server_side_apply(job, path=path)


class FlowRunFailed(Exception):
    """The run cannot start, for good; ``status`` says why."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = failed_status(error_type, message)


async def _render_job(kube: Kube, body: dict[str, Any], settings: RenderSettings) -> dict[str, Any]:
    """The FlowRun's Job, rendered from its Flow as the operator renders the Flow's runner."""
    meta = body["metadata"]
    namespace = meta.get("namespace") or "default"
    try:
        spec = parse_spec(body.get("spec"), meta["name"])
    except FlowRunInvalid as exc:
        raise FlowRunFailed("Invalid", str(exc)) from None
    try:
        flow_body = await kube.get(resource_path(API_VERSION, "flows", namespace, spec.flowRef))
    except NotFound:
        raise FlowRunWaiting(f"waiting for Flow {spec.flowRef!r} in {namespace}") from None
    try:
        flow = await asyncio.to_thread(compile_flow, user_document(flow_body, namespace))
    except FlowInvalid as exc:
        problems = "; ".join(str(issue) for issue in exc.issues[:5])
        raise FlowRunFailed(
            "FlowInvalid", f"Flow {spec.flowRef!r} is invalid: {problems}"
        ) from None
    if flow.flow.spec.suspend:
        raise FlowRunFailed("FlowSuspended", f"Flow {spec.flowRef!r} is suspended")
    secrets = await check_secrets(kube, namespace, flow)
    if not secrets.ok:
        if secrets.waiting:
            raise FlowRunWaiting(f"waiting for secrets: {secrets.message}")
        raise FlowRunFailed("SecretInvalid", secrets.message)
    data = render_input(flow, namespace, settings, secrets)
    return render_flowrun_job(data, flowrun_owner(body))


def _owned_by(obj: dict[str, Any], uid: str) -> bool:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return bool(uid) and any(ref.get("uid") == uid for ref in refs)


def owning_flowrun(job: dict[str, Any]) -> FlowRunKey | None:
    """The FlowRun a Job belongs to, from its controller reference."""
    meta = job.get("metadata") or {}
    for ref in meta.get("ownerReferences") or []:
        if ref.get("kind") == "FlowRun" and ref.get("apiVersion") == API_VERSION:
            return FlowRunKey(meta.get("namespace") or "default", ref["name"])
    return None


async def mirror_job(kube: Kube, key: FlowRunKey, job: dict[str, Any]) -> bool:
    """A finished Job whose FlowRun is not finished: the runner could not report (it never
    started, was killed, or lost the API), so the FlowRun fails with the Job's reason.
    Returns whether the FlowRun changed."""
    outcome = job_outcome(job)
    if outcome is None:
        return False
    # A runner that left its execution parked reported Waiting and exited 0: that stands.
    return await report_unless_finished(kube, key, outcome, also=("Waiting",))


async def report_unless_finished(
    kube: Kube, key: FlowRunKey, status: dict[str, Any], also: tuple[str, ...] = ()
) -> bool:
    """Write ``status`` unless the FlowRun has finished (a Cancelled run stays cancelled, a
    runner's outcome is never overwritten by the operator's guess): conditional on the
    resourceVersion read. Returns whether it was written; False when the FlowRun is gone."""
    for _ in range(CONFLICT_RETRIES):
        try:
            current = await kube.get(key.path)
        except NotFound:
            return False
        if (current.get("status") or {}).get("phase") in (*FINISHED, *also):
            return False
        version = {"resourceVersion": current["metadata"]["resourceVersion"]}
        try:
            await kube.merge_patch(key.path + "/status", {"metadata": version, "status": status})
            return True
        except Conflict:
            continue
    raise Conflict(409, f"FlowRun {key.name} kept changing", method="PATCH", path=key.path)


async def delete_expired(kube: Kube, key: FlowRunKey, uid: str) -> None:
    """Delete a FlowRun past its TTL (its Job and Pod go with it, by owner references); the
    uid precondition spares a FlowRun of the same name created since."""
    body = {"propagationPolicy": "Background", "preconditions": {"uid": uid}}
    with contextlib.suppress(NotFound, Conflict):
        await kube.request("DELETE", key.path, json=body)
