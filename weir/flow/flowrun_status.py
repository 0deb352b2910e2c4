"""A FlowRun's status, built the same way by the operator (Pending, a Job that failed), the
runner (Running, the execution's outcome) and the console (Cancelled): pure functions, no API
calls.

One condition, ``Succeeded``, as Tekton's runs carry it: Unknown while the run is pending or
running, True or False once it is over, with a reason and a message.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from weir.flow.flowrun import FINISHED, MAX_RESULT, PHASE_OF_STATUS
from weir.lang.times import epoch, iso, now


def phase_status(phase: str, reason: str, message: str = "", **fields: Any) -> dict[str, Any]:
    """The status (a merge patch) of a FlowRun entering ``phase``."""
    succeeded = "True" if phase == "Succeeded" else "False" if phase in FINISHED else "Unknown"
    condition = {
        "type": "Succeeded",
        "status": succeeded,
        "reason": reason,
        "message": message,
        "lastTransitionTime": now(),
    }
    return {"phase": phase, **fields, "conditions": [condition]}


def bounded_result(result: Any) -> dict[str, Any]:
    """``result`` when its JSON fits the status, else ``resultTruncated`` (a FlowRun is an
    etcd object: a large result would make every read and watch of it large)."""
    text = json.dumps(result, default=str)
    if len(text.encode()) > MAX_RESULT:
        return {"result": None, "resultTruncated": True}
    return {"result": json.loads(text), "resultTruncated": None}


def outcome_status(
    execution_id: str,
    status: str,
    started_at: float,
    finished_at: float,
    result: Any,
    error: dict[str, Any] | None,
) -> dict[str, Any]:
    """The status of a FlowRun whose execution ended (``status`` as recorded)."""
    phase = PHASE_OF_STATUS.get(str(status), "Failed")
    times = {
        "executionId": execution_id,
        "startedAt": iso(started_at),
        "finishedAt": iso(finished_at),
    }
    if phase == "Waiting":  # parked: not over, so no finishedAt (docs/flowruns.md)
        return phase_status(
            phase, "Waiting", f"execution {execution_id} is waiting (parked)",
            executionId=execution_id, startedAt=iso(started_at), error=None, result=None,
        )  # fmt: skip
    if phase == "Succeeded":
        return phase_status(
            phase, "Succeeded", f"execution {execution_id} succeeded",
            **times, error=None, **bounded_result(result),
        )  # fmt: skip
    error = error or {}
    reported = {
        "type": str(error.get("type") or status),
        "message": str(error.get("message") or f"the execution {status}"),
    }
    if error.get("node"):
        reported["node"] = str(error["node"])
    where = f"node {reported['node']}: " if "node" in reported else ""
    return phase_status(
        phase, "ExecutionFailed" if phase == "Failed" else phase,
        f"execution {execution_id} {status}: {where}{reported['message']}",
        **times, error=reported, result=None, resultTruncated=None,
    )  # fmt: skip


def failed_status(error_type: str, message: str) -> dict[str, Any]:
    """A FlowRun that failed before or around its execution (no Flow, a Job that failed)."""
    return phase_status(
        "Failed",
        error_type,
        message,
        finishedAt=now(),
        error={"type": error_type, "message": message},
    )


def job_outcome(job: dict[str, Any]) -> dict[str, Any] | None:
    """The status a FlowRun takes from its finished Job, when the runner could not write it
    (the pod never started, was killed, or exited before reporting); None while it runs."""
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Failed":
            detail = condition.get("message") or condition.get("reason") or "the Job failed"
            return failed_status("JobFailed", f"Job {job['metadata']['name']}: {detail}")
        if condition.get("type") == "Complete":
            return failed_status(
                "NotReported",
                f"Job {job['metadata']['name']} completed but its runner did not report the "
                "outcome (see the Pod's log)",
            )
    return None


def expiry(body: dict[str, Any], ttl: int) -> float | None:
    """When a finished FlowRun is to be deleted (epoch seconds); None while it runs."""
    status = body.get("status") or {}
    if status.get("phase") not in FINISHED:
        return None
    finished = epoch(status.get("finishedAt"))
    if finished is None:  # a status without the time: from when it was seen finished
        finished = dt.datetime.now(dt.UTC).timestamp()
    return finished + ttl
