"""What the operator's handlers share: the API client, render settings, per-flow locks, what
the periodic work walks; and how an API error becomes kopf's temporary or permanent error."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import kopf

from weir.kube.client import ApiError, Kube
from weir.operator.flowruns import FlowRunKey
from weir.operator.peering import Peering
from weir.operator.settings import RenderSettings


class OperatorState:
    """What the handlers share: the API client, render settings, per-flow locks."""

    def __init__(self) -> None:
        self.kube: Kube | None = None
        self.settings = RenderSettings.from_env()
        self.locks: dict[tuple[str, str], asyncio.Lock] = defaultdict(asyncio.Lock)
        self.secret_digests: dict[tuple[str, str], str] = {}
        """(namespace, FlowSecretRef name) → digest of its Secret's keys when last polled."""
        self.flows: set[tuple[str, str]] = set()
        """(namespace, name) of the Flows this operator reconciles, for the periodic resync."""
        self.secret_refs: dict[tuple[str, str], dict[str, Any]] = {}
        """(namespace, name) → spec of the FlowSecretRefs whose Secrets are polled."""
        self.peering: Peering | None = None
        self.namespaced = False
        """Serving listed namespaces only: kopf then needs nothing cluster-wide."""
        self.background: list[asyncio.Task[None]] = []
        self.flowrun_expiry: dict[FlowRunKey, tuple[str, float]] = {}
        """Finished FlowRuns → (uid, epoch seconds when their TTL ends)."""

    def api(self) -> Kube:
        if self.kube is None:
            raise kopf.TemporaryError("not logged in to the API yet", delay=1)
        return self.kube


STATE = OperatorState()


def to_kopf(exc: ApiError) -> kopf.PermanentError | kopf.TemporaryError:
    if exc.retryable:
        return kopf.TemporaryError(str(exc), delay=5)
    return kopf.PermanentError(str(exc))
