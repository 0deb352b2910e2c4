"""The one module that talks to the Kubernetes API, over kubernetes_asyncio's ApiClient.

The client brings what a hand-written one lacks: kubeconfig contexts with exec plugins and
OIDC, and a ServiceAccount token re-read from its file as the kubelet rotates it. On top, this
module keeps raw paths and plain dicts (the operator renders dicts), turns errors into typed
ones that carry retryability like node errors do (5xx, 429, 409 and connection problems are
temporary; other 4xx are not), retries the temporary ones with backoff, honouring
Retry-After, and re-authenticates once on 401 (an expired exec or OIDC token).
"""

from __future__ import annotations

import asyncio
import contextlib
import json as jsonlib
import os
import random
import re
from pathlib import Path
from typing import Any

import aiohttp

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
FIELD_MANAGER = "weir-operator"
ATTEMPTS = 5
"""Tries of one request in all when the API answers 429, 5xx or not at all."""
MAX_BACKOFF = 10.0


def in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and (SERVICE_ACCOUNT / "token").exists()


class ApiError(Exception):
    def __init__(self, status: int, message: str, *, method: str = "", path: str = "") -> None:
        super().__init__(f"{method} {path}: {status} {message}".strip())
        self.status = status
        self.message = message
        self.retry_after: float | None = None

    @property
    def retryable(self) -> bool:
        return self.status in (0, 409, 429) or self.status >= 500


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    pass


class InvalidName(ApiError):
    """A name that cannot be an object's: never put into a URL, where `/`, `..` or `#` would
    send the request elsewhere."""

    def __init__(self, what: str, value: str) -> None:
        super().__init__(400, f"{what} {value!r} is not a valid Kubernetes name")


_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")
_SEGMENT = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?(/[a-z0-9]([-a-z0-9.]*[a-z0-9])?)?")


def valid_name(value: str) -> bool:
    """A DNS-1123 subdomain (names of most kinds; a namespace is a stricter label)."""
    return len(value) <= 253 and _NAME.fullmatch(value) is not None and ".." not in value


def resource_path(
    api_version: str, plural: str, namespace: str | None, name: str | None = None
) -> str:
    if namespace is not None and not valid_name(namespace):
        raise InvalidName("namespace", namespace)
    if name is not None and not valid_name(name):
        raise InvalidName("name", name)
    if _SEGMENT.fullmatch(api_version) is None or _NAME.fullmatch(plural) is None:
        raise InvalidName("resource", f"{api_version}/{plural}")
    base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    path = f"{base}/namespaces/{namespace}/{plural}" if namespace else f"{base}/{plural}"
    return f"{path}/{name}" if name else path


PLURALS = {
    "ConfigMap": "configmaps",
    "Secret": "secrets",
    "Service": "services",
    "ServiceAccount": "serviceaccounts",
    "Role": "roles",
    "RoleBinding": "rolebindings",
    "Deployment": "deployments",
    "CronJob": "cronjobs",
    "Job": "jobs",
    "HorizontalPodAutoscaler": "horizontalpodautoscalers",
    "ScaledObject": "scaledobjects",
    "Flow": "flows",
    "FlowSecretRef": "flowsecretrefs",
    "FlowRun": "flowruns",
}


def object_path(obj: dict[str, Any], *, with_name: bool = True) -> str:
    meta = obj["metadata"]
    return resource_path(
        obj["apiVersion"],
        PLURALS[obj["kind"]],
        meta.get("namespace"),
        meta["name"] if with_name else None,
    )


class Kube:
    """Requests with one pooled ApiClient, configured on first use from the pod's
    ServiceAccount or from $KUBECONFIG (or an explicit kubeconfig file)."""

    def __init__(self, kubeconfig: str | None = None, *, context: str | None = None) -> None:
        self._kubeconfig = kubeconfig
        self._context = context
        self._client: Any = None
        self._loader: Any = None
        self._lock = asyncio.Lock()
        self.writes = 0
        """API writes made (create, patch, delete): the figure the benchmark reports."""

    async def configuration(self) -> Any:
        """The client's Configuration (host, token, TLS files), loaded once."""
        return (await self._api()).configuration

    async def _api(self) -> Any:
        async with self._lock:
            if self._client is None:
                from kubernetes_asyncio import client, config

                configuration = client.Configuration()
                if self._kubeconfig is None and in_cluster():
                    config.load_incluster_config(client_configuration=configuration)
                else:
                    self._loader = await config.load_kube_config(
                        config_file=self._kubeconfig or _kubeconfig_path(),
                        context=self._context,
                        client_configuration=configuration,
                        persist_config=False,
                    )
                self._client = client.ApiClient(configuration)
            return self._client

    async def _reauthenticate(self) -> bool:
        """After a 401: run the kubeconfig's exec plugin or OIDC refresh again."""
        if self._loader is None:
            return False  # in a pod the token file is re-read by the client itself
        api = await self._api()
        await self._loader.load_and_set(api.configuration)
        return True

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content_type: str = "application/json",
        params: dict[str, str] | None = None,
    ) -> Any:
        if method != "GET":
            self.writes += 1
        reauthenticated = False
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return await self._send(method, path, json, content_type, params)
            except ApiError as exc:
                if exc.status == 401 and not reauthenticated and await self._reauthenticate():
                    reauthenticated = True
                    continue
                if not _transient(exc) or attempt == ATTEMPTS:
                    raise
                await asyncio.sleep(_backoff(attempt, exc.retry_after))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(
        self,
        method: str,
        path: str,
        json: Any,
        content_type: str,
        params: dict[str, str] | None,
    ) -> Any:
        from kubernetes_asyncio.client.exceptions import ApiException

        api = await self._api()
        headers = {"Accept": "application/json"}
        if json is not None:
            headers["Content-Type"] = content_type
        try:
            data, _status, _headers = await api.call_api(
                path,
                method,
                query_params=list((params or {}).items()),
                header_params=headers,
                body=json,
                auth_settings=["BearerToken"],
                response_types_map={200: "object", 201: "object", 202: "object"},
                _request_timeout=30,
            )
            return data
        except ApiException as exc:
            raise _error(exc, method, path) from None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise ApiError(0, f"{type(exc).__name__}: {exc}", method=method, path=path) from None

    async def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        return await self.request("GET", path, params=params)

    async def merge_patch(self, path: str, patch: dict[str, Any]) -> Any:
        return await self.request(
            "PATCH", path, json=patch, content_type="application/merge-patch+json"
        )

    async def server_side_apply(self, obj: dict[str, Any], *, path: str | None = None) -> Any:
        """Apply ``obj`` as Weir's field manager: fields Weir applied before and no longer
        applies are removed; fields other managers own (an HPA's replicas) are kept."""
        return await self.request(
            "PATCH",
            path or object_path(obj),
            json=obj,
            content_type="application/apply-patch+yaml",
            params={"fieldManager": FIELD_MANAGER, "force": "true"},
        )

    async def delete(self, path: str) -> None:
        with contextlib.suppress(NotFound):
            await self.request("DELETE", path, json={"propagationPolicy": "Background"})


def connection_info(configuration: Any) -> Any:
    """The same credentials as kopf's ConnectionInfo, for kopf's own watches."""
    import kopf

    bearer = str(configuration.api_key.get("BearerToken") or "")
    scheme, _, token = bearer.partition(" ") if " " in bearer else ("Bearer", "", bearer)
    return kopf.ConnectionInfo(
        server=configuration.host,
        ca_path=configuration.ssl_ca_cert,
        insecure=not configuration.verify_ssl,
        username=configuration.username or None,
        password=configuration.password or None,
        scheme=scheme if token else None,
        token=token or None,
        certificate_path=configuration.cert_file,
        private_key_path=configuration.key_file,
    )


def _kubeconfig_path() -> str:
    path = os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    return path.split(os.pathsep)[0]


def _transient(exc: ApiError) -> bool:
    # 409 is retryable too, but by reading again, which only the caller can do.
    return exc.retryable and exc.status != 409


def _backoff(attempt: int, retry_after: float | None) -> float:
    if retry_after is not None:
        return min(retry_after, MAX_BACKOFF)
    return min(0.2 * 2 ** (attempt - 1), MAX_BACKOFF) * random.uniform(0.8, 1.2)


def _error(exc: Any, method: str, path: str) -> ApiError:
    body: Any = exc.body
    try:
        decoded = jsonlib.loads(body) if body else {}
        reason = str(decoded.get("message") or decoded.get("reason") or exc.reason)
    except (ValueError, AttributeError):
        reason = str(exc.reason)
    kind = {404: NotFound, 409: Conflict}.get(exc.status, ApiError)
    error = kind(exc.status, reason, method=method, path=path)
    retry_after = (exc.headers or {}).get("Retry-After")
    if retry_after and str(retry_after).isdigit():
        error.retry_after = float(retry_after)
    return error
