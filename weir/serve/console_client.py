"""How a runner talks to the console: where it is, which token to send, and the two calls a
runner makes (``POST /api/v1/ingest``, ``GET /api/v1/cancellations``).

The token is read again for every request: a pod's projected ServiceAccount token is rotated
by the kubelet while the runner lives.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import aiohttp

from weir.kube.client import SERVICE_ACCOUNT
from weir.lang.expressions import json_default

URL_ENV = "WEIR_CONSOLE_URL"
TOKEN_ENV = "WEIR_CONSOLE_TOKEN"
TOKEN_FILE = SERVICE_ACCOUNT / "token"
URL_LIMIT = 512
INGEST_TIMEOUT = aiohttp.ClientTimeout(total=30, sock_connect=5)
CALL_TIMEOUT = aiohttp.ClientTimeout(total=30, sock_connect=5)


class ConsoleUnavailable(Exception):
    """The console did not take what was sent: unreachable, timed out, or not a 2xx answer."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def console_url(given: str | None) -> str | None:
    """The console's base URL from ``--console`` or ``$WEIR_CONSOLE_URL``; None when neither
    is set. A URL that is not http(s) is refused with the option's name."""
    url = given or os.environ.get(URL_ENV) or None
    if url is None:
        return None
    where = "--console" if given else URL_ENV
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{where}={url!r}: give the console's http:// or https:// URL")
    if parts.username or parts.password:
        raise ValueError(f"{where}: put no credentials in the URL; set {TOKEN_ENV} instead")
    base = urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
    if len(base) > URL_LIMIT:  # the store keeps its shipping cursor under the URL
        raise ValueError(f"{where}: at most {URL_LIMIT} characters")
    return base


def bearer_token(token_file: Path = TOKEN_FILE) -> str | None:
    """``$WEIR_CONSOLE_TOKEN``, else the pod's ServiceAccount token when it has one."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    if token:
        return token
    try:
        return token_file.read_text().strip() or None
    except OSError:
        return None


@dataclass
class ConsoleClient:
    """One aiohttp session to one console; ``aclose`` releases it."""

    url: str
    token_file: Path = TOKEN_FILE

    def __post_init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(json_serialize=_dumps)
        return self._session

    def _headers(self) -> dict[str, str]:
        token = bearer_token(self.token_file)
        return {"Authorization": f"Bearer {token}"} if token else {}

    async def ingest(self, runner: str, executions: list[dict[str, Any]]) -> None:
        """Hand executions (wire form) to the console; ConsoleUnavailable unless it took them."""
        body = {"runner": runner, "executions": executions}
        await self._call("POST", "/api/v1/ingest", INGEST_TIMEOUT, json=body)

    async def cancellations(self, runner: str, wait: float, **scope: str) -> list[str]:
        """The ids of executions of this runner whose cancel was requested; the console holds
        the request up to ``wait`` seconds while there are none."""
        params = {"runner": runner, "wait": f"{wait:g}", **{k: v for k, v in scope.items() if v}}
        timeout = aiohttp.ClientTimeout(total=wait + 15, sock_connect=5)
        answer = await self._call("GET", "/api/v1/cancellations", timeout, params=params)
        ids = answer.get("executions") if isinstance(answer, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise ConsoleUnavailable("cancellations: the answer has no list of execution ids")
        return ids

    async def start_run(self, flow: str, namespace: str, input: Any, parent: dict[str, Any]) -> str:
        """Start a run of ``flow`` (a subflow's child): its execution id."""
        path = f"/api/v1/flows/{quote(flow, safe='')}/runs"
        params = {"namespace": namespace} if namespace else {}
        body = {"input": input, "parent": parent}
        answer = await self._call("POST", path, CALL_TIMEOUT, json=body, params=params)
        if not isinstance(answer, dict) or not isinstance(answer.get("id"), str):
            raise ConsoleUnavailable(f"POST {self.url}{path}: the answer has no execution id")
        return str(answer["id"])

    async def execution(self, execution_id: str) -> dict[str, Any]:
        """An execution as the console shows it (``GET /api/v1/executions/{id}``)."""
        path = f"/api/v1/executions/{quote(execution_id, safe='')}"
        answer = await self._call("GET", path, CALL_TIMEOUT)
        found = answer.get("execution") if isinstance(answer, dict) else None
        if not isinstance(found, dict):
            raise ConsoleUnavailable(f"GET {self.url}{path}: the answer has no execution")
        return found

    async def _call(
        self, method: str, path: str, timeout: aiohttp.ClientTimeout, **kwargs: Any
    ) -> Any:
        where = f"{method} {self.url}{path}"
        try:
            async with self._client().request(
                method, self.url + path, headers=self._headers(), timeout=timeout, **kwargs
            ) as answer:
                text = await answer.text(errors="replace")
                if answer.status >= 300:
                    raise ConsoleUnavailable(
                        f"{where}: {answer.status} {_detail(text)}", answer.status
                    )
        except TimeoutError:
            raise ConsoleUnavailable(f"{where}: no answer within {timeout.total:g}s") from None
        except aiohttp.ClientError as exc:
            raise ConsoleUnavailable(f"{where}: {exc or type(exc).__name__}") from None
        try:
            return json.loads(text) if text else None
        except ValueError:
            return None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


def _dumps(value: Any) -> str:
    return json.dumps(value, default=json_default, separators=(",", ":"))


def _detail(text: str) -> str:
    """The console's problem detail (``{title, status, detail}``), else the start of the body."""
    try:
        problem = json.loads(text)
        if isinstance(problem, dict):
            return str(problem.get("detail") or problem.get("title") or "")[:300]
    except ValueError:
        pass
    return " ".join(text.split())[:300]
