"""Apply rendered objects with server-side apply as Weir's field manager: what matches
already is left alone (no write), what differs is applied (a field Weir no longer renders is
removed, fields other managers own are kept), an object of the same name that is not this
Flow's is refused, and what the flow owns and no longer renders is removed."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from weir.kube.client import PLURALS, Kube, NotFound, object_path, resource_path
from weir.operator.render import Owner, labels, object_name

APPLIED = "weir.dev/applied"
"""Annotation: a digest of what Weir last applied, so a removed field counts as a change."""


class NotOwned(Exception):
    """An object of the name Weir would give exists and belongs to someone else."""

    def __init__(self, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        super().__init__(
            f"{obj['kind']} {meta['namespace']}/{meta['name']} exists and is not managed by "
            "Weir for this Flow; delete or rename it, or rename the Flow"
        )


def contains(existing: Any, wanted: Any) -> bool:
    """Whether every field we render already has our value (server-added fields are ignored).

    Lists of objects are list-maps in Kubernetes (ports, containers, env, volumes): server-side
    apply merges them by key and keeps entries other managers own, so ours being there is
    enough. Lists of scalars (a command, its args) are atomic: they must be equal."""
    if isinstance(wanted, dict):
        return isinstance(existing, dict) and all(
            contains(existing.get(k), v) for k, v in wanted.items()
        )
    if isinstance(wanted, list):
        if not isinstance(existing, list):
            return False
        if wanted and all(isinstance(w, dict) for w in wanted):
            return all(any(contains(e, w) for e in existing) for w in wanted)
        return len(existing) == len(wanted) and all(
            contains(e, w) for e, w in zip(existing, wanted, strict=True)
        )
    return bool(existing == wanted)


def digest(obj: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def _stamped(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    annotations = {**(meta.get("annotations") or {}), APPLIED: digest(obj)}
    return {**obj, "metadata": {**meta, "annotations": annotations}}


def _owner_of(obj: dict[str, Any]) -> Owner | None:
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return Owner(
                name=ref["name"], uid=ref["uid"], api_version=ref["apiVersion"], kind=ref["kind"]
            )
    return None


async def apply(kube: Kube, obj: dict[str, Any]) -> str:
    """Make the object exist as rendered; returns created, updated or unchanged."""
    path = object_path(obj)
    wanted = _stamped(obj)
    try:
        existing: dict[str, Any] | None = await kube.get(path)
    except NotFound:
        existing = None
    if existing is not None:
        owner = _owner_of(obj)
        if owner is not None and not owned_by(existing, owner):
            raise NotOwned(obj)
        if contains(existing, wanted):
            return "unchanged"
    await kube.server_side_apply(wanted, path=path)
    return "created" if existing is None else "updated"


async def apply_all(kube: Kube, objects: Iterable[dict[str, Any]]) -> dict[str, str]:
    results = {}
    for obj in objects:
        results[f"{obj['kind']}/{obj['metadata']['name']}"] = await apply(kube, obj)
    return results


def object_key(obj: dict[str, Any]) -> str:
    return f"{obj['apiVersion']}/{obj['kind']}/{obj['metadata']['name']}"


RUNNER_KINDS = (
    ("v1", "ConfigMap"),
    ("v1", "ServiceAccount"),
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("apps/v1", "Deployment"),
    ("v1", "Service"),
    ("batch/v1", "CronJob"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("keda.sh/v1alpha1", "ScaledObject"),
)
"""Every kind a flow's runner may consist of (weir.operator.render); one object of each at
most, all named ``weir-<flow>``. Manual-run Jobs are left to their TTL and to garbage
collection."""


def owned_by(obj: dict[str, Any], owner: Owner) -> bool:
    """Whether Weir made this object for this very Flow: its labels and an owner reference to
    the Flow's uid. A name alone proves nothing (anyone may create ``weir-x``)."""
    meta = obj.get("metadata") or {}
    found_labels = meta.get("labels") or {}
    if not owner.uid or any(found_labels.get(k) != v for k, v in labels(owner.name).items()):
        return False
    return any(
        ref.get("uid") == owner.uid and ref.get("kind") == owner.kind
        for ref in meta.get("ownerReferences") or []
    )


async def remove_stale(
    kube: Kube, namespace: str, owner: Owner, keep: Iterable[dict[str, Any]]
) -> list[str]:
    """Delete the objects of this Flow's runner that the flow no longer renders (the
    Deployment and Service of a flow whose trigger became a cron, say).

    What is deleted is found in the Flow's own namespace by the names Weir gives and proven
    by ownership, never taken from the Flow's status, which the runner may write."""
    kept = {(obj["apiVersion"], obj["kind"]) for obj in keep}
    name = object_name(owner.name)
    removed = []
    for api_version, kind in RUNNER_KINDS:
        if (api_version, kind) in kept:
            continue
        path = resource_path(api_version, PLURALS[kind], namespace, name)
        try:
            found = await kube.get(path)
        except NotFound:  # absent, or the kind is not served here (no KEDA)
            continue
        if owned_by(found, owner):
            await kube.delete(path)
            removed.append(f"{api_version}/{kind}/{name}")
    return removed
