"""kopf handlers: the only place where operator errors become kopf's temporary/permanent errors.

Handlers are plain functions named ``<resource>_<event>``; the work happens in
``reconcile.reconcile_flow``. Flows are re-reconciled when their runner Deployment's readiness
changes, when a FlowSecretRef they use changes, when the Secret behind it changes (read by name
every SECRET_POLL_INTERVAL) and, to repair drift, every RESYNC_INTERVAL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any

import kopf

from weir.kube.client import ApiError, Kube, NotFound, connection_info, resource_path
from weir.operator import metrics
from weir.operator.apply import remove_stale
from weir.operator.flowrun_handlers import expire_flowruns  # also registers FlowRun handlers
from weir.operator.peering import is_leader
from weir.operator.reconcile import Outcome, reconcile_flow, status_patch
from weir.operator.render import Owner, object_name
from weir.operator.secretrefs import SecretRefCheck, check_secret_ref
from weir.operator.state import STATE, to_kopf

GROUP, VERSION = "weir.dev", "v1alpha1"
RESYNC_INTERVAL = float(os.environ.get("WEIR_RESYNC_INTERVAL", "300"))
"""Seconds between two reconciles of a flow that nothing else changed."""
SECRET_POLL_INTERVAL = float(os.environ.get("WEIR_SECRET_POLL_INTERVAL", "30"))
"""Seconds between two reads of the Secret behind a FlowSecretRef."""
REFRESH_ATTEMPTS = 5
MANAGED = {"app.kubernetes.io/managed-by": "weir-operator"}
log = logging.getLogger("weir.operator")


@kopf.on.login()
async def operator_login(**_: Any) -> kopf.ConnectionInfo:
    """One set of credentials for kopf's watches and Weir's own requests, loaded by
    kubernetes_asyncio (exec plugins, OIDC, a rotated ServiceAccount token). kopf calls this
    again when the API answers 401."""
    if STATE.kube is not None:
        await STATE.kube.close()
    STATE.kube = Kube()
    return connection_info(await STATE.kube.configuration())


@kopf.on.startup()
async def operator_startup(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.posting.level = logging.WARNING
    # With exact namespaces kopf needs no watch of namespaces or CRDs (which would need
    # cluster-wide RBAC): it serves those namespaces and the CRDs there at start.
    settings.scanning.disabled = STATE.namespaced
    settings.persistence.finalizer = "weir.dev/finalizer"
    # kopf's own bookkeeping lives under a prefix of its own: kopf leaves annotations with
    # its prefix out of a change's essence, and `weir.dev/run` must count as a change.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix="operator.weir.dev"
    )
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="operator.weir.dev", key="last-handled-configuration"
    )

    # Periodic work runs in the operator, not as kopf timers: a timer would put kopf's
    # finalizer on every Flow, and a Flow could not be deleted while the operator is away.
    STATE.background = [asyncio.get_running_loop().create_task(_periodic())]


@kopf.on.cleanup()
async def operator_cleanup(**_: Any) -> None:
    for task in STATE.background:
        task.cancel()
    if STATE.kube is not None:
        await STATE.kube.close()


async def _periodic() -> None:
    """In the leader only: poll the FlowSecretRefs' Secrets and delete FlowRuns past their
    TTL every SECRET_POLL_INTERVAL, and resync every flow every RESYNC_INTERVAL. The first round, soon after start, tells the log
    who leads."""
    loop = asyncio.get_running_loop()
    delay, leading, next_resync = min(SECRET_POLL_INTERVAL, 1.0), None, 0.0
    while True:
        await asyncio.sleep(delay)
        delay = SECRET_POLL_INTERVAL
        try:
            now_leading = await is_leader(STATE.api(), STATE.peering)
            if now_leading != leading and STATE.peering is not None:
                state = "leads" if now_leading else "stands by (a peer of higher priority leads)"
                log.info("this replica %s in peering %s", state, STATE.peering.name)
            leading = now_leading
            if not leading:
                continue
            await _poll_secret_refs()
            await expire_flowruns()
            if loop.time() >= next_resync:
                if next_resync:  # at start, kopf's resume handlers have just reconciled all
                    await _resync_flows()
                next_resync = loop.time() + RESYNC_INTERVAL
        except asyncio.CancelledError:
            raise
        except Exception:  # the next round tries again; never let the loop die
            log.exception("periodic work failed")


async def _resync_flows() -> None:
    """Reconcile every known flow again: drift of its objects (edited or deleted by hand) is
    repaired, and a refresh that gave up is made good."""
    for namespace, name in sorted(STATE.flows):
        await _refresh_flow(namespace, name)


async def _poll_secret_refs() -> None:
    for (namespace, name), spec in sorted(STATE.secret_refs.items()):
        try:
            await _poll_secret_ref(namespace, name, spec)
        except ApiError as exc:
            log.warning(
                "reading the Secret of FlowSecretRef %s/%s failed: %s", namespace, name, exc
            )


async def _reconcile(kube: Kube, body: dict[str, Any]) -> Outcome:
    """Reconcile under the flow's lock (held by the caller); the outcome holds the status."""
    meta = body["metadata"]
    key = (meta.get("namespace") or "default", meta["name"])
    try:
        outcome = await reconcile_flow(kube, body, STATE.settings)
    except ApiError as exc:
        metrics.RECONCILE_ERRORS.inc()
        raise to_kopf(exc) from None
    metrics.observe(key, outcome.status.get("phase", "Unknown"))
    return outcome


@kopf.on.create(GROUP, VERSION, "flows")
@kopf.on.update(GROUP, VERSION, "flows")
@kopf.on.resume(GROUP, VERSION, "flows")
async def flow_reconcile(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    meta = body["metadata"]
    key = (meta.get("namespace") or "default", meta["name"])
    STATE.flows.add(key)
    async with STATE.locks[key]:
        outcome = await _reconcile(STATE.api(), dict(body))
    patch.status.update(status_patch(outcome, dict(body.get("status") or {})))
    for kind, reason, message in outcome.events:
        if kind == "Warning":  # what the user must fix, also in `kubectl describe flow`
            kopf.warn(body, reason=reason, message=message)


def _deleted(type: str, **_: Any) -> bool:
    return type == "DELETED"


@kopf.on.event(GROUP, VERSION, "flows", when=_deleted)
async def flow_event(
    type: str, name: str, body: kopf.Body, namespace: str | None, **_: Any
) -> None:
    """On deletion, remove the runner at once. Owner references let Kubernetes collect it too;
    no finalizer, so a Flow can be deleted even when the operator is not running."""
    namespace = namespace or "default"
    try:
        removed = await _remove_runner(namespace, dict(body))
    except ApiError as exc:
        raise to_kopf(exc) from None
    STATE.flows.discard((namespace, name))
    log.info("flow %s/%s was deleted; removed %s", namespace, name, ", ".join(removed) or "nothing")
    metrics.forget((namespace, name))


async def _remove_runner(namespace: str, body: dict[str, Any]) -> list[str]:
    """Every object of a deleted Flow's runner, proven to be this Flow's by its owner uid."""
    meta = body.get("metadata") or {}
    owner = Owner(name=meta.get("name", ""), uid=meta.get("uid", ""))
    return await remove_stale(STATE.api(), namespace, owner, keep=[])


async def _refresh_flow(namespace: str, name: str) -> None:
    """Re-reconcile a flow outside its own handlers and write its status directly; temporary
    errors are tried again with backoff (and the periodic resync catches what is left)."""
    for attempt in range(REFRESH_ATTEMPTS):
        try:
            await _refresh_once(namespace, name)
            return
        except (kopf.TemporaryError, ApiError) as exc:
            if (isinstance(exc, ApiError) and not exc.retryable) or attempt == REFRESH_ATTEMPTS - 1:
                log.warning("refreshing flow %s/%s failed: %s", namespace, name, exc)
                return
            await asyncio.sleep(min(2**attempt, 30))
        except kopf.PermanentError as exc:
            log.warning("refreshing flow %s/%s failed: %s", namespace, name, exc)
            return


async def _refresh_once(namespace: str, name: str) -> None:
    kube = STATE.api()
    path = resource_path(f"{GROUP}/{VERSION}", "flows", namespace, name)
    # Read under the lock: a body read before it could be older than what the holder applied.
    async with STATE.locks[(namespace, name)]:
        try:
            body = await kube.get(path)
        except NotFound:
            return  # deleted meanwhile
        outcome = await _reconcile(kube, body)
        try:
            status = status_patch(outcome, body.get("status") or {})
            await kube.merge_patch(path + "/status", {"status": status})
        except NotFound:
            # Deleted while we reconciled: what we just applied is an orphan (the garbage
            # collector takes it too, via owner references).
            await _remove_runner(namespace, body)


@kopf.on.event("apps", "v1", "deployments", labels=MANAGED)
async def deployment_event(body: kopf.Body, namespace: str | None, **_: Any) -> None:
    namespace = namespace or "default"
    flow = (body.get("metadata", {}).get("labels") or {}).get("weir.dev/flow")
    if flow and object_name(flow) == body["metadata"]["name"]:
        await _refresh_flow(namespace, flow)


async def _flows_using(namespace: str, ref_name: str) -> list[str]:
    kube = STATE.api()
    listing = await kube.get(resource_path(f"{GROUP}/{VERSION}", "flows", namespace))
    users = []
    for item in listing.get("items", []):
        for binding in (item.get("spec") or {}).get("secrets") or []:
            if (binding.get("flowSecretRef") or binding.get("name")) == ref_name:
                users.append(item["metadata"]["name"])
                break
    return users


@kopf.on.create(GROUP, VERSION, "flowsecretrefs")
@kopf.on.update(GROUP, VERSION, "flowsecretrefs")
@kopf.on.resume(GROUP, VERSION, "flowsecretrefs")
async def flowsecretref_reconcile(
    spec: kopf.Spec, name: str, namespace: str | None, patch: kopf.Patch, **_: Any
) -> None:
    namespace = namespace or "default"
    STATE.secret_refs[(namespace, name)] = dict(spec)
    try:
        status = await _sync_secret_ref(namespace, name, dict(spec), force=True)
    except ApiError as exc:
        raise to_kopf(exc) from None
    assert status is not None
    patch.status.update(status)


async def _poll_secret_ref(namespace: str, name: str, spec: dict[str, Any]) -> None:
    status = await _sync_secret_ref(namespace, name, spec, force=False)
    if status is None:
        return
    path = resource_path(f"{GROUP}/{VERSION}", "flowsecretrefs", namespace, name)
    with contextlib.suppress(NotFound):  # deleted meanwhile
        await STATE.api().merge_patch(path + "/status", {"status": status})


async def _sync_secret_ref(
    namespace: str, name: str, spec: dict[str, Any], *, force: bool
) -> dict[str, Any] | None:
    """Read the Secret a FlowSecretRef names; when its keys changed (rotated, created, a key
    added) or ``force``, roll out the flows that use it and return the FlowSecretRef's new
    status. Reading by name needs only `get` on Secrets, where a watch would need to list
    every Secret of the namespace."""
    check = await check_secret_ref(STATE.api(), namespace, spec)
    if not force and STATE.secret_digests.get((namespace, name)) == check.digest:
        return None
    STATE.secret_digests[(namespace, name)] = check.digest
    flows = await _flows_using(namespace, name)
    for flow in flows:
        await _refresh_flow(namespace, flow)
    return _secretref_status(check, flows)


def _secretref_status(check: SecretRefCheck, flows: list[str]) -> dict[str, Any]:
    reason = "Resolved" if check.ready else "SecretMissing"
    return {
        "conditions": [
            {
                "type": "Ready",
                "status": str(check.ready),
                "reason": reason,
                "message": check.message,
            }
        ],
        "flows": flows,
    }


@kopf.on.event(GROUP, VERSION, "flowsecretrefs")
async def flowsecretref_delete(
    type: str | None, name: str, namespace: str | None, **_: Any
) -> None:
    # The watch's DELETED event, not an on.delete handler: without a finalizer the object is
    # gone at once, and kopf runs an optional delete handler only if it still sees it.
    if type != "DELETED":
        return
    namespace = namespace or "default"
    STATE.secret_digests.pop((namespace, name), None)
    STATE.secret_refs.pop((namespace, name), None)
    for flow in await _flows_using(namespace, name):
        await _refresh_flow(namespace, flow)
