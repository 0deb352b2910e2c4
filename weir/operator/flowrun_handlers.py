"""kopf handlers of FlowRuns and of their Jobs; the work is in ``flowruns``.

A FlowRun gets its Job when it is created (or, after a restart of the operator, resumed
without one). The runner in the Job writes Running and the outcome; the operator writes only
what the runner cannot: a Job that failed or ended without a report. Finished FlowRuns are
deleted once their TTL has passed, by the operator's periodic work.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import kopf

from weir.flow.flowrun import DEFAULT_TTL, FINISHED, GROUP, PLURAL, VERSION
from weir.flow.flowrun_status import expiry, failed_status, phase_status
from weir.kube.client import ApiError, NotFound, resource_path
from weir.operator.flowruns import (
    FlowRunKey,
    FlowRunWaiting,
    delete_expired,
    mirror_job,
    owning_flowrun,
    report_unless_finished,
    start,
)
from weir.operator.state import STATE, to_kopf

WAITING_RETRY = 10.0
"""Seconds between two tries of a FlowRun waiting for its Flow or secrets."""
log = logging.getLogger("weir.operator")


@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.resume(GROUP, VERSION, PLURAL)
async def flowrun_start(body: kopf.Body, name: str, namespace: str | None, **_: Any) -> None:
    status = dict(body.get("status") or {})
    key = FlowRunKey(namespace or "default", name)
    if status.get("phase") in FINISHED:
        return
    kube = STATE.api()
    if status.get("job"):  # resumed: the Job exists, or went while the operator was away
        await _check_job(key, status["job"])
        return
    try:
        await start(kube, dict(body), STATE.settings)
    except FlowRunWaiting as exc:
        # Written now, not with kopf's patch, which a handler that failed does not apply.
        waiting = phase_status("Pending", "Waiting", str(exc))
        if not await report_unless_finished(kube, key, waiting):
            return  # deleted or cancelled meanwhile
        raise kopf.TemporaryError(str(exc), delay=WAITING_RETRY) from None
    except ApiError as exc:
        raise to_kopf(exc) from None


async def _check_job(key: FlowRunKey, job_name: str) -> None:
    kube = STATE.api()
    try:
        job = await kube.get(resource_path("batch/v1", "jobs", key.namespace, job_name))
    except NotFound:
        gone = failed_status("JobGone", f"Job {job_name} was deleted before the run finished")
        await report_unless_finished(kube, key, gone)
        return
    await mirror_job(kube, key, job)


@kopf.on.event(GROUP, VERSION, PLURAL)
async def flowrun_event(type: str | None, body: kopf.Body, **_: Any) -> None:
    """Note when a finished FlowRun is to be deleted (TTL); forget a deleted one."""
    meta = body.get("metadata") or {}
    key = FlowRunKey(meta.get("namespace") or "default", meta.get("name", ""))
    if type == "DELETED":
        STATE.flowrun_expiry.pop(key, None)
        return
    ttl = (body.get("spec") or {}).get("ttlSecondsAfterFinished", DEFAULT_TTL)
    at = expiry(dict(body), int(ttl)) if isinstance(ttl, int) else None
    if at is None:
        STATE.flowrun_expiry.pop(key, None)
    elif key not in STATE.flowrun_expiry:
        STATE.flowrun_expiry[key] = (meta.get("uid", ""), at)
        if at <= time.time():
            await expire_flowruns()


async def expire_flowruns() -> None:
    """Delete the finished FlowRuns whose TTL has passed."""
    now = time.time()
    for key, (uid, at) in sorted(STATE.flowrun_expiry.items(), key=lambda item: item[1][1]):
        if at > now:
            break
        try:
            await delete_expired(STATE.api(), key, uid)
        except ApiError as exc:
            log.warning(
                "deleting FlowRun %s/%s after its TTL failed: %s", key.namespace, key.name, exc
            )
            continue
        STATE.flowrun_expiry.pop(key, None)


def _finished(status: Any, **_: Any) -> bool:
    conditions = (status or {}).get("conditions") or []
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True" for c in conditions
    )


@kopf.on.event(
    "batch", "v1", "jobs", labels={"app.kubernetes.io/managed-by": "weir-operator"}, when=_finished
)
async def flowrun_job_event(body: kopf.Body, **_: Any) -> None:
    """A FlowRun's Job finished: when its runner did not report, the FlowRun fails."""
    key = owning_flowrun(dict(body))
    if key is None:
        return
    try:
        await mirror_job(STATE.api(), key, dict(body))
    except ApiError as exc:
        log.warning(
            "mirroring Job %s into FlowRun %s failed: %s", body["metadata"]["name"], key.name, exc
        )
