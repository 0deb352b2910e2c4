"""The one module that talks to the Kubernetes API: a small async client over aiohttp.

It uses the credentials kopf logged in with (kubeconfig, service account), so the operator
and its tests (KMock) share one code path. Errors carry retryability like node errors do:
5xx, 429, 409 and connection problems are temporary; other 4xx are not.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml


@dataclass
class Credentials:
    """Where the API is and how to authenticate; kopf's ConnectionInfo has the same fields."""

    server: str
    token: str | None = None
    scheme: str | None = None
    username: str | None = None
    password: str | None = None
    insecure: bool | None = None
    ca_path: str | None = None
    ca_data: str | bytes | None = None
    certificate_path: str | None = None
    certificate_data: str | bytes | None = None
    private_key_path: str | None = None
    private_key_data: str | bytes | None = None


SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def credentials_from_environment() -> Credentials | None:
    """In a pod: the service account; elsewhere: the current context of $KUBECONFIG."""
    host, port = (
        os.environ.get("KUBERNETES_SERVICE_HOST"),
        os.environ.get("KUBERNETES_SERVICE_PORT"),
    )
    if host and port and (SERVICE_ACCOUNT / "token").exists():
        return Credentials(
            server=f"https://{host}:{port}",
            token=(SERVICE_ACCOUNT / "token").read_text().strip(),
            ca_path=str(SERVICE_ACCOUNT / "ca.crt"),
        )
    path = os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    try:
        config = yaml.safe_load(Path(path.split(os.pathsep)[0]).read_text()) or {}
    except OSError:
        return None
    context_name = config.get("current-context")
    context = next(
        (c["context"] for c in config.get("contexts", []) if c["name"] == context_name), None
    )
    if context is None:
        return None
    cluster = next(
        c["cluster"] for c in config.get("clusters", []) if c["name"] == context["cluster"]
    )
    user: dict[str, Any] = next(
        (u["user"] for u in config.get("users", []) if u["name"] == context.get("user")), {}
    )
    return Credentials(
        server=cluster["server"],
        insecure=cluster.get("insecure-skip-tls-verify"),
        ca_path=cluster.get("certificate-authority"),
        ca_data=base64.b64decode(cluster["certificate-authority-data"]).decode()
        if cluster.get("certificate-authority-data")
        else None,
        token=user.get("token"),
        username=user.get("username"),
        password=user.get("password"),
        certificate_path=user.get("client-certificate"),
        certificate_data=base64.b64decode(user["client-certificate-data"])
        if user.get("client-certificate-data")
        else None,
        private_key_path=user.get("client-key"),
        private_key_data=base64.b64decode(user["client-key-data"])
        if user.get("client-key-data")
        else None,
    )


class ApiError(Exception):
    def __init__(self, status: int, message: str, *, method: str = "", path: str = "") -> None:
        super().__init__(f"{method} {path}: {status} {message}".strip())
        self.status = status
        self.message = message

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
    """Requests with the operator's credentials; one pooled aiohttp session."""

    def __init__(self, info: Any) -> None:
        self.server = str(info.server).rstrip("/")
        self._headers: dict[str, str] = {}
        if info.token:
            self._headers["Authorization"] = f"{info.scheme or 'Bearer'} {info.token}"
        elif info.username:
            pair = f"{info.username}:{info.password or ''}".encode()
            self._headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        self._ssl = _ssl_context(info)
        self._session: aiohttp.ClientSession | None = None
        self.writes = 0
        """API writes made (create, patch, delete): the figure the benchmark reports."""

    async def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers=self._headers, timeout=aiohttp.ClientTimeout(total=30)
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content_type: str = "application/json",
        params: dict[str, str] | None = None,
    ) -> Any:
        session = await self._client()
        if method != "GET":
            self.writes += 1
        headers = {"Content-Type": content_type} if json is not None else {}
        try:
            async with session.request(
                method, self.server + path, json=json, headers=headers, params=params, ssl=self._ssl
            ) as response:
                if response.status == 404:
                    raise NotFound(404, "not found", method=method, path=path)
                if response.status == 409:
                    raise Conflict(409, await _reason(response), method=method, path=path)
                if response.status >= 400:
                    raise ApiError(
                        response.status, await _reason(response), method=method, path=path
                    )
                if response.content_type == "application/json":
                    return await response.json()
                return await response.text()
        except aiohttp.ClientError as exc:
            raise ApiError(0, f"{type(exc).__name__}: {exc}", method=method, path=path) from None

    async def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        return await self.request("GET", path, params=params)

    async def create(self, obj: dict[str, Any]) -> Any:
        return await self.request("POST", object_path(obj, with_name=False), json=obj)

    async def merge_patch(self, path: str, patch: dict[str, Any]) -> Any:
        return await self.request(
            "PATCH", path, json=patch, content_type="application/merge-patch+json"
        )

    async def delete(self, path: str) -> None:
        with contextlib.suppress(NotFound):
            await self.request("DELETE", path, json={"propagationPolicy": "Background"})


async def _reason(response: aiohttp.ClientResponse) -> str:
    try:
        body = await response.json(content_type=None)
        return str(body.get("message") or body.get("reason") or response.reason)
    except Exception:
        return str(response.reason)


def _ssl_context(info: Any) -> ssl.SSLContext | bool:
    if not str(info.server).startswith("https"):
        return False
    if info.insecure:
        return False
    context = ssl.create_default_context(cafile=info.ca_path or None)
    if info.ca_data:
        data = info.ca_data if isinstance(info.ca_data, str) else info.ca_data.decode()
        context.load_verify_locations(cadata=data)
    if info.certificate_path or info.certificate_data:
        context.load_cert_chain(*_client_cert_files(info))
    return context


def _client_cert_files(info: Any) -> tuple[str, str]:
    def materialise(path: Any, data: Any) -> str:
        if path:
            return str(path)
        handle = tempfile.NamedTemporaryFile(delete=False, suffix=".pem")  # noqa: SIM115
        handle.write(data if isinstance(data, bytes) else str(data).encode())
        handle.close()
        return handle.name

    return (
        materialise(info.certificate_path, info.certificate_data),
        materialise(info.private_key_path, info.private_key_data),
    )
