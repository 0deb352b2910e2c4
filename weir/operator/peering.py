"""Whether this replica leads: the operator's own periodic work (resync, Secret polling) runs
only in the replica kopf lets work, read from kopf's peering object (the live peer with the
highest priority leads; kopf pauses the others)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from weir.operator.kube import Kube, NotFound, resource_path


@dataclass(frozen=True)
class Peering:
    name: str
    priority: int
    namespace: str | None = None
    """Where the KopfPeering is; None for the ClusterKopfPeering."""


async def is_leader(kube: Kube, peering: Peering | None) -> bool:
    if peering is None:
        return True  # standalone: the only replica
    plural = "kopfpeerings" if peering.namespace else "clusterkopfpeerings"
    try:
        found = await kube.get(
            resource_path("kopf.dev/v1", plural, peering.namespace, peering.name)
        )
    except NotFound:
        return False  # kopf pauses too without its peering object
    now = dt.datetime.now(dt.UTC)
    return not any(
        _alive(peer, now) and int(peer.get("priority", 0)) > peering.priority
        for peer in (found.get("status") or {}).values()
        if isinstance(peer, dict)
    )


def _alive(peer: dict[str, Any], now: dt.datetime) -> bool:
    try:
        seen = dt.datetime.fromisoformat(str(peer["lastseen"]))
    except (KeyError, ValueError):
        return False
    if seen.tzinfo is None:
        seen = seen.replace(tzinfo=dt.UTC)
    return (now - seen).total_seconds() <= float(peer.get("lifetime", 60))
