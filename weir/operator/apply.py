"""Apply rendered objects idempotently: create what is missing, patch what differs, leave
what matches alone (no write), and remove what the flow no longer renders."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from weir.operator.kube import PLURALS, Conflict, Kube, NotFound, object_path, resource_path

CONFLICT_RETRIES = 5


def contains(existing: Any, wanted: Any) -> bool:
    """Whether every field we render already has our value (server-added fields are ignored)."""
    if isinstance(wanted, dict):
        return isinstance(existing, dict) and all(
            contains(existing.get(k), v) for k, v in wanted.items()
        )
    if isinstance(wanted, list):
        return (
            isinstance(existing, list)
            and len(existing) == len(wanted)
            and all(contains(e, w) for e, w in zip(existing, wanted, strict=True))
        )
    return bool(existing == wanted)


async def apply(kube: Kube, obj: dict[str, Any]) -> str:
    """Make the object exist as rendered; returns created, updated or unchanged."""
    path = object_path(obj)
    for _ in range(CONFLICT_RETRIES):
        try:
            existing = await kube.get(path)
        except NotFound:
            try:
                await kube.create(obj)
                return "created"
            except Conflict:
                continue  # created meanwhile by someone else: read it and compare again
        if contains(existing, obj):
            return "unchanged"
        try:
            await kube.merge_patch(path, obj)
            return "updated"
        except Conflict:
            await asyncio.sleep(0.1)
    raise Conflict(
        409, f"{obj['kind']} {obj['metadata']['name']} kept changing under us", path=path
    )


async def apply_all(kube: Kube, objects: Iterable[dict[str, Any]]) -> dict[str, str]:
    results = {}
    for obj in objects:
        results[f"{obj['kind']}/{obj['metadata']['name']}"] = await apply(kube, obj)
    return results


def object_key(obj: dict[str, Any]) -> str:
    return f"{obj['apiVersion']}/{obj['kind']}/{obj['metadata']['name']}"


async def remove_stale(
    kube: Kube, namespace: str, previous: Iterable[str], keep: Iterable[dict[str, Any]]
) -> list[str]:
    """Delete what the flow rendered last time (``status.objects``) and no longer renders,
    e.g. the Deployment and Service of a flow whose trigger became a cron."""
    kept = {object_key(obj) for obj in keep}
    removed = []
    for key in previous:
        if key in kept:
            continue
        api_version, kind, name = key.rsplit("/", 2)
        if kind in PLURALS:
            await kube.delete(resource_path(api_version, PLURALS[kind], namespace, name))
            removed.append(key)
    return removed
