"""A thin layer over KMock's Kubernetes emulator that adds what the operator relies on and the
emulator does not do by itself (it stores objects as posted):

* ``Apiserver`` stands in for the apiserver's bookkeeping (and for server-side apply's
  create-when-missing): ``metadata.uid``,
  ``creationTimestamp`` and ``generation`` on create, a ``generation`` bump when a spec changes
  (what ``observedGeneration`` needs), and a new ``resourceVersion`` on every write (kopf waits
  for the version it patched to come back through its watch before it goes on);
* ``Cluster`` is a client for the tests to create, patch and read objects and wait for states.

Garbage collection by owner references is not emulated: the operator deletes a flow's
objects itself when it sees the flow go (and owner references do it in a real cluster).
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import itertools
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from kmock import KubernetesEmulator, action

from weir.kube.client import PLURALS, resource_path

_versions = itertools.count(1)


def _is_apply(request: Any) -> bool:
    headers = {k.lower(): v for k, v in (request.headers or {}).items()}
    return str(headers.get("content-type", "")).startswith("application/apply-patch")


class Apiserver(KubernetesEmulator):
    async def _handle(self, request: Any) -> Any:
        data = request.data
        if request.resource is not None and isinstance(data, dict):
            if request.action == action.CREATE:
                meta = data.setdefault("metadata", {})
                meta.setdefault("uid", str(uuid.uuid4()))
                meta.setdefault(
                    "creationTimestamp", dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                )
                meta.setdefault("generation", 1)
                meta["resourceVersion"] = str(next(_versions))
            elif (
                request.action == action.UPDATE
                and _is_apply(request)
                and not self._current(request)
            ):
                # Server-side apply creates what is missing; the emulator then merges the applied
                # fields (field ownership and removal are the real server's: tests/kube).
                meta = data.setdefault("metadata", {})
                meta.setdefault("uid", str(uuid.uuid4()))
                meta.setdefault("generation", 1)
                meta["resourceVersion"] = str(next(_versions))
                key = (request.resource, request.namespace, request.name)
                async with self._lock:
                    self._objects[key] = copy.deepcopy(data)
                    raw = self._objects[key].raw
                    await self._buses[request.resource].put({"type": "ADDED", "object": raw})
            elif request.action == action.UPDATE:
                meta = data.setdefault("metadata", {})
                meta["resourceVersion"] = str(next(_versions))
                if "spec" in data and not request.subresource:
                    current = self._current(request)
                    meta["generation"] = (current.get("metadata", {}).get("generation") or 1) + 1
        return await super()._handle(request)

    def _current(self, request: Any) -> dict[str, Any]:
        for (resource, namespace, name), obj in self._objects.items():
            if (resource, namespace, name) == (request.resource, request.namespace, request.name):
                return dict(obj.raw)
        return {}


RESOURCES = {
    "apiextensions.k8s.io/v1/customresourcedefinitions": ("CustomResourceDefinition", False),
    "v1/namespaces": ("Namespace", False),
    "weir.dev/v1alpha1/flows": ("Flow", True),
    "weir.dev/v1alpha1/flowsecretrefs": ("FlowSecretRef", True),
    "weir.dev/v1alpha1/flowruns": ("FlowRun", True),
    "v1/configmaps": ("ConfigMap", True),
    "v1/secrets": ("Secret", True),
    "v1/services": ("Service", True),
    "v1/serviceaccounts": ("ServiceAccount", True),
    "v1/events": ("Event", True),
    "events.k8s.io/v1/events": ("Event", True),
    "rbac.authorization.k8s.io/v1/roles": ("Role", True),
    "rbac.authorization.k8s.io/v1/rolebindings": ("RoleBinding", True),
    "apps/v1/deployments": ("Deployment", True),
    "batch/v1/cronjobs": ("CronJob", True),
    "batch/v1/jobs": ("Job", True),
    "autoscaling/v2/horizontalpodautoscalers": ("HorizontalPodAutoscaler", True),
}
VERBS = ["list", "watch", "get", "create", "patch", "update", "delete"]
API_VERSIONS = {
    "Flow": "weir.dev/v1alpha1",
    "FlowSecretRef": "weir.dev/v1alpha1",
    "FlowRun": "weir.dev/v1alpha1",
    "ConfigMap": "v1",
    "Secret": "v1",
    "Service": "v1",
    "ServiceAccount": "v1",
    "Role": "rbac.authorization.k8s.io/v1",
    "RoleBinding": "rbac.authorization.k8s.io/v1",
    "Deployment": "apps/v1",
    "CronJob": "batch/v1",
    "Job": "batch/v1",
    "HorizontalPodAutoscaler": "autoscaling/v2",
}


def declare(kmock: Any) -> None:
    for key, (kind, namespaced) in RESOURCES.items():
        kmock.resources[key] = {"kind": kind, "namespaced": namespaced, "verbs": VERBS}


def write_kubeconfig(path: Path, server: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kmock", "cluster": {"server": server}}],
        "users": [{"name": "test", "user": {"token": "test-token"}}],
        "contexts": [{"name": "kmock", "context": {"cluster": "kmock", "user": "test"}}],
        "current-context": "kmock",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def path_of(kind: str, namespace: str | None, name: str | None = None) -> str:
    return resource_path(API_VERSIONS[kind], PLURALS[kind], namespace, name)


class Cluster:
    def __init__(self, server: str, session: aiohttp.ClientSession) -> None:
        self.server = server.rstrip("/")
        self.session = session

    async def request(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Content-Type": "application/merge-patch+json"} if method == "PATCH" else {}
        async with self.session.request(
            method, self.server + path, json=body, headers=headers
        ) as resp:
            if resp.status == 404:
                return None
            resp.raise_for_status()
            return await resp.json(content_type=None)

    async def create(self, obj: dict[str, Any]) -> Any:
        obj = {**obj, "metadata": {"namespace": "default", **obj["metadata"]}}
        meta = obj["metadata"]
        return await self.request("POST", path_of(obj["kind"], meta["namespace"]), obj)

    async def get(self, kind: str, name: str, namespace: str = "default") -> Any:
        return await self.request("GET", path_of(kind, namespace, name))

    async def list(self, kind: str, namespace: str = "default") -> list[dict[str, Any]]:
        listing = await self.request("GET", path_of(kind, namespace))
        return list(listing["items"]) if listing else []

    async def patch(
        self, kind: str, name: str, patch: dict[str, Any], namespace: str = "default"
    ) -> Any:
        return await self.request("PATCH", path_of(kind, namespace, name), patch)

    async def delete(self, kind: str, name: str, namespace: str = "default") -> Any:
        return await self.request("DELETE", path_of(kind, namespace, name))

    async def wait_for(self, what: str, check: Callable[[], Any], timeout: float = 20.0) -> Any:
        """Poll ``check`` (a coroutine function) until it returns something truthy."""
        deadline = asyncio.get_running_loop().time() + timeout
        last: Any = None
        while asyncio.get_running_loop().time() < deadline:
            last = await check()
            if last:
                return last
            await asyncio.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; last seen: {last!r}")

    async def condition(self, name: str, kind: str = "Ready") -> dict[str, Any] | None:
        flow = await self.get("Flow", name)
        for condition in ((flow or {}).get("status") or {}).get("conditions") or []:
            if condition.get("type") == kind:
                return dict(condition)
        return None
