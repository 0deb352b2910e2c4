"""Reconcile one Flow: validate (the same code as `weir validate`), check its secrets, render,
apply, and compute the status that tells the truth. No kopf here: handlers call this."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from weir.flow.flowrun import API_VERSION
from weir.flow.issues import FlowInvalid
from weir.flow.load import CompiledFlow, compile_flow
from weir.flow.model import FlowSpec
from weir.flow.schedule import next_fire
from weir.kube.client import Kube, NotFound, resource_path
from weir.lang.times import now
from weir.operator.apply import NotOwned, apply, apply_all, object_key, remove_stale
from weir.operator.render import Owner, RenderInput, flowrun_job_name, object_name, render
from weir.operator.render.common import metadata
from weir.operator.secretrefs import SecretsCheck, check_secrets
from weir.operator.settings import RenderSettings
from weir.operator.status import Conditions

RUN_ANNOTATION = "weir.dev/run"
RUN_INPUT_ANNOTATION = "weir.dev/run-input"
MANUAL_RUNS_KEPT = 10


@dataclass
class Outcome:
    status: dict[str, Any]
    applied: dict[str, str] = field(default_factory=dict)
    events: list[tuple[str, str, str]] = field(default_factory=list)
    """(type, reason, message) for Kubernetes Events."""


async def reconcile_flow(kube: Kube, body: dict[str, Any], settings: RenderSettings) -> Outcome:
    meta = body.get("metadata", {})
    namespace, name = meta.get("namespace") or "default", meta["name"]
    generation = meta.get("generation")
    previous = body.get("status") or {}
    conditions = Conditions(previous.get("conditions"), generation)
    status: dict[str, Any] = {"observedGeneration": generation}

    try:
        # Off the event loop: compiling checks code nodes' scripts in V8 and reads YAML.
        flow = await asyncio.to_thread(compile_flow, user_document(body, namespace))
    except FlowInvalid as exc:
        return _invalid(exc, status, conditions)
    conditions.set("Valid", True, "Valid", "the flow is valid")
    status["trigger"] = flow.flow.spec.trigger.kind

    secrets = await check_secrets(kube, namespace, flow)
    if not secrets.ok:
        return _secrets_unresolved(secrets, status, conditions)
    conditions.set("SecretsResolved", True, "Resolved", secrets.message)

    owner = Owner(name=name, uid=meta.get("uid", ""))
    data = render_input(flow, namespace, settings, secrets, owner)
    objects = render(data)
    try:
        applied = await apply_all(kube, objects)
    except NotOwned as exc:
        conditions.set("Available", False, "NameTaken", str(exc))
        _stalled(conditions, "NameTaken", str(exc))
        return Outcome(
            {**status, "phase": "Failed", "conditions": conditions.as_list()},
            events=[("Warning", "NameTaken", str(exc))],
        )
    removed = await remove_stale(kube, namespace, owner, keep=objects)
    status["objects"] = [object_key(obj) for obj in objects]
    events = [("Normal", "Applied", f"{k} {v}") for k, v in applied.items() if v != "unchanged"]
    events += [("Normal", "Removed", k) for k in removed]

    runs, run_events = await _manual_runs(kube, data, meta, previous.get("manualRuns") or [])
    if runs:
        status["manualRuns"] = runs
    events += run_events

    await _availability(kube, flow, namespace, status, conditions)
    return Outcome({**status, "conditions": conditions.as_list()}, applied, events)


def render_input(
    flow: CompiledFlow,
    namespace: str,
    settings: RenderSettings,
    secrets: SecretsCheck,
    owner: Owner | None = None,
) -> RenderInput:
    """What rendering the flow's runner (or a FlowRun's Job) starts from, its secrets checked."""
    return RenderInput(
        flow=flow,
        namespace=namespace,
        settings=settings,
        secret_refs=secrets.refs,
        secrets_checksum=secrets.checksum,
        owner=owner,
    )


def _invalid(exc: FlowInvalid, status: dict[str, Any], conditions: Conditions) -> Outcome:
    message = "; ".join(str(issue) for issue in exc.issues[:5])
    conditions.set("Valid", False, "Invalid", message)
    _stalled(conditions, "Invalid", f"the flow is invalid: {message}")
    return Outcome(
        {**status, "phase": "Failed", "conditions": conditions.as_list()},
        events=[("Warning", "Invalid", message)],
    )


def _secrets_unresolved(
    secrets: SecretsCheck, status: dict[str, Any], conditions: Conditions
) -> Outcome:
    conditions.set("SecretsResolved", False, "SecretMissing", secrets.message)
    if secrets.waiting:  # it may yet come: Progressing, not Degraded, for GitOps
        message = f"waiting for secrets: {secrets.message}"
        conditions.set("Stalled", False, "SecretMissing", "")
        conditions.set("Reconciling", True, "SecretMissing", message)
        conditions.set("Ready", False, "SecretMissing", message)
        phase = "Pending"
    else:
        _stalled(conditions, "SecretInvalid", f"not rolled out: {secrets.message}")
        phase = "Failed"
    return Outcome(
        {**status, "phase": phase, "conditions": conditions.as_list()},
        events=[("Warning", "SecretMissing", secrets.message)],
    )


OPERATOR_STATUS = (
    "observedGeneration",
    "phase",
    "conditions",
    "trigger",
    "target",
    "replicas",
    "objects",
    "manualRuns",
)
"""The status fields the operator writes; the runner writes lastExecution and executions."""


def status_patch(outcome: Outcome, previous: dict[str, Any]) -> dict[str, Any]:
    """The outcome's status as a merge patch: a field the operator wrote before and not now
    (replicas of a flow that became a cron) is removed, the runner's fields are kept."""
    cleared = {k: None for k in OPERATOR_STATUS if k in previous and k not in outcome.status}
    return {**cleared, **outcome.status}


def user_document(body: dict[str, Any], namespace: str) -> dict[str, Any]:
    """The Flow as the user wrote it: no status, no server-side metadata."""
    document = {k: v for k, v in body.items() if k in ("apiVersion", "kind", "spec")}
    document["metadata"] = {"name": body["metadata"]["name"], "namespace": namespace}
    return document


def _stalled(conditions: Conditions, reason: str, message: str) -> None:
    conditions.set("Stalled", True, reason, message)
    conditions.set("Reconciling", False, reason, "")
    conditions.set("Ready", False, reason, message)


async def _availability(
    kube: Kube, flow: CompiledFlow, namespace: str, status: dict[str, Any], conditions: Conditions
) -> None:
    """Ready once the runner is: replicas ready for a Deployment, scheduled for a CronJob."""
    spec = flow.flow.spec
    name = object_name(flow.name)
    conditions.set("Stalled", False, "Reconciled", "")
    kind = spec.trigger.kind
    if spec.suspend:
        status["phase"] = "Suspended"
        conditions.set("Available", False, "Suspended", "spec.suspend is true")
        conditions.set("Reconciling", False, "Suspended", "")
        conditions.set(
            "Ready", True, "Suspended", "suspended: nothing runs until spec.suspend is false"
        )
        return
    if kind == "manual":
        status["phase"] = "Ready"
        status["target"] = f"kubectl annotate flow {flow.name} {RUN_ANNOTATION}=<token>"
        conditions.set("Available", True, "OnDemand", "runs on demand")
        conditions.set("Reconciling", False, "Reconciled", "")
        conditions.set("Ready", True, "OnDemand", "ready to run on demand")
        return
    if kind == "cron":
        assert spec.trigger.cron is not None
        status["target"] = next_fire(spec.trigger.cron, dt.datetime.now(dt.UTC)).isoformat()
        status["phase"] = "Ready"
        conditions.set("Available", True, "Scheduled", f"next run {status['target']}")
        conditions.set("Reconciling", False, "Reconciled", "")
        conditions.set("Ready", True, "Scheduled", f"scheduled; next run {status['target']}")
        return
    try:
        deployment = await kube.get(resource_path("apps/v1", "deployments", namespace, name))
    except NotFound:
        deployment = {}
    status["target"] = runner_target(spec, name, namespace)
    _rollout(deployment, status, conditions)


def runner_target(spec: FlowSpec, name: str, namespace: str) -> str:
    """What a runner Deployment listens to or watches, for `kubectl get flows`."""
    trigger = spec.trigger
    served = trigger.rest or trigger.mcp
    if served is not None:
        return f"http://{name}.{namespace}.svc{served.path}"
    if trigger.rabbitmq:
        return f"queue {trigger.rabbitmq.queue}"
    if trigger.files:
        pattern = f" ({trigger.files.pattern})" if trigger.files.pattern else ""
        return f"{trigger.files.source} {trigger.files.path}{pattern}"
    if trigger.mail:
        return f"imap folder {trigger.mail.folder.source}"
    return ""


def _rollout(deployment: dict[str, Any], status: dict[str, Any], conditions: Conditions) -> None:
    """Ready only when the Deployment's controller has seen its current generation and every
    desired replica is updated and available (as `kubectl rollout status` decides); a rollout
    past its progress deadline is Stalled."""
    spec, observed = deployment.get("spec") or {}, deployment.get("status") or {}
    desired = spec.get("replicas", 1)
    updated = observed.get("updatedReplicas") or 0
    available = observed.get("availableReplicas") or 0
    status["replicas"] = {
        "desired": desired,
        "updated": updated,
        "ready": observed.get("readyReplicas") or 0,
        "available": available,
    }
    progressing: dict[str, Any] = next(
        (c for c in observed.get("conditions") or [] if c.get("type") == "Progressing"), {}
    )
    current = (deployment.get("metadata") or {}).get("generation") or 0
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        message = f"the runner's rollout stalled: {progressing.get('message', '')}".strip()
        conditions.set("Available", available >= 1, "ProgressDeadlineExceeded", message)
        _stalled(conditions, "ProgressDeadlineExceeded", message)
        status["phase"] = "Failed"
        return
    if not deployment:
        waiting = "waiting for the runner Deployment"
    elif (observed.get("observedGeneration") or 0) < current:
        waiting = "waiting for the Deployment controller to see the new runner spec"
    elif updated < desired:
        waiting = f"rolling out: {updated}/{desired} runner replicas updated"
    elif available < desired:
        waiting = f"rolling out: {available}/{desired} runner replicas available"
    elif (observed.get("replicas") or 0) > desired:
        waiting = "rolling out: old runner replicas are terminating"
    else:
        waiting = ""
    if waiting:
        status["phase"] = "Progressing"
        conditions.set("Available", available >= 1, "Rollout", waiting)
        conditions.set("Reconciling", True, "Rollout", waiting)
        conditions.set("Ready", False, "Rollout", waiting)
        return
    message = (
        f"{available}/{desired} runner replicas available"
        if desired
        else "scaled to zero: the autoscaler starts a runner when work arrives"
    )
    status["phase"] = "Ready"
    reason = "ReplicasReady" if desired else "ScaledToZero"
    conditions.set("Available", True, reason, message)
    conditions.set("Reconciling", False, reason, "")
    conditions.set("Ready", True, reason, message)


async def _manual_runs(
    kube: Kube, data: RenderInput, meta: dict[str, Any], runs: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[tuple[str, str, str]]]:
    """One FlowRun per distinct `weir.dev/run` token (the FlowRun handler makes its Job),
    recorded in status.manualRuns."""
    annotations = meta.get("annotations") or {}
    token = annotations.get(RUN_ANNOTATION)
    if not token or any(run.get("token") == token for run in runs):
        return runs, []
    run_input = annotations.get(RUN_INPUT_ANNOTATION)
    spec: dict[str, Any] = {"flowRef": data.flow.name}
    if run_input is not None:
        try:
            spec["input"] = json.loads(run_input)
        except ValueError as exc:
            message = (
                f"annotation {RUN_INPUT_ANNOTATION} is not JSON ({exc}); run {token!r} not started"
            )
            record = {"token": token, "error": message, "createdAt": now()}
            return [*runs, record][-MANUAL_RUNS_KEPT:], [("Warning", "ManualRunInput", message)]
    flowrun = manual_flowrun(data, token, spec)
    await apply(kube, flowrun)
    name = flowrun["metadata"]["name"]
    record = {
        "token": token,
        "flowRun": name,
        "job": flowrun_job_name(data.flow.name, name),
        "createdAt": now(),
    }
    return [*runs, record][-MANUAL_RUNS_KEPT:], [("Normal", "ManualRun", f"created FlowRun {name}")]


def manual_flowrun(data: RenderInput, token: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The FlowRun of one `weir.dev/run=<token>`, owned by the Flow and named after the token:
    ``weir-<flow>-run-<6 hex>``, at most 63 characters, so its Job takes the same name."""
    suffix = hashlib.sha256(token.encode()).hexdigest()[:6]
    flowrun = metadata(data, "FlowRun", API_VERSION, f"{object_name(data.flow.name)}-run-{suffix}")
    flowrun["metadata"]["annotations"] = {"weir.dev/run-token": token}
    flowrun["spec"] = spec
    return flowrun
