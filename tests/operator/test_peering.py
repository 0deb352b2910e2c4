"""Leadership read from kopf's peering object: the live peer of highest priority leads."""

from __future__ import annotations

import datetime as dt
from typing import Any

from weir.kube.client import NotFound
from weir.operator.peering import Peering, is_leader


class PeeringObject:
    def __init__(self, status: dict[str, Any] | None) -> None:
        self.status = status
        self.paths: list[str] = []

    async def get(self, path: str) -> Any:
        self.paths.append(path)
        if self.status is None:
            raise NotFound(404, "not found")
        return {"status": self.status}


def peer(priority: int, seconds_ago: float, lifetime: int = 60) -> dict[str, Any]:
    seen = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds_ago)
    return {"priority": priority, "lifetime": lifetime, "lastseen": seen.isoformat()}


async def test_standalone_always_leads() -> None:
    assert await is_leader(PeeringObject(None), None)  # type: ignore[arg-type]


async def test_the_highest_live_priority_leads() -> None:
    status = {"me": peer(50, 1), "other": peer(10, 1)}
    kube = PeeringObject(status)
    assert await is_leader(kube, Peering("weir", 50))  # type: ignore[arg-type]
    assert kube.paths == ["/apis/kopf.dev/v1/clusterkopfpeerings/weir"]
    assert not await is_leader(kube, Peering("weir", 10))  # type: ignore[arg-type]


async def test_a_dead_peer_of_higher_priority_does_not_count() -> None:
    kube = PeeringObject({"gone": peer(99, 120), "me": peer(5, 1)})
    assert await is_leader(kube, Peering("weir", 5, ("team-a", "team-b")))  # type: ignore[arg-type]
    assert kube.paths == [
        "/apis/kopf.dev/v1/namespaces/team-a/kopfpeerings/weir",
        "/apis/kopf.dev/v1/namespaces/team-b/kopfpeerings/weir",
    ]


async def test_without_its_peering_object_no_replica_leads() -> None:
    assert not await is_leader(PeeringObject(None), Peering("weir", 5))  # type: ignore[arg-type]
