"""Whether this replica leads: the operator's own periodic work (resync, Secret polling) runs
only in the replica kopf lets work, read from kopf's peering object (the live peer with the
highest priority leads; kopf pauses the others)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from weir.kube.client import Kube, NotFound, resource_path


@dataclass(frozen=True)
class Peering:
    name: str
    priority: int
    namespaces: tuple[str, ...] = ()
    """Where the KopfPeerings are (one per served namespace); none: the ClusterKopfPeering."""


async def is_leader(kube: Kube, peering: Peering | None) -> bool:
    """Leads where no live peer has a higher priority; in namespaced mode, in every
    namespace (kopf pauses a replica namespace by namespace)."""
    if peering is None:
        return True  # standalone: the only replica
    now = dt.datetime.now(dt.UTC)
    for namespace in peering.namespaces or (None,):
        plural = "kopfpeerings" if namespace else "clusterkopfpeerings"
        try:
            found = await kube.get(resource_path("kopf.dev/v1", plural, namespace, peering.name))
        except NotFound:
            return False  # kopf pauses too without its peering object
        if any(
            _alive(peer, now) and int(peer.get("priority", 0)) > peering.priority
            for peer in (found.get("status") or {}).values()
            if isinstance(peer, dict)
        ):
            return False
    return True


def _alive(peer: dict[str, Any], now: dt.datetime) -> bool:
    try:
        seen = dt.datetime.fromisoformat(str(peer["lastseen"]))
    except (KeyError, ValueError):
        return False
    if seen.tzinfo is None:
        seen = seen.replace(tzinfo=dt.UTC)
    return (now - seen).total_seconds() <= float(peer.get("lifetime", 60))
