"""The CLI as a client of a console (`weir console`, ``/api/v1``): where the console is, which
token to send, the calls, and what a refusal means in one line (docs/cli.md).

The console is ``--server URL``, else ``--context NAME`` or the ``current-context`` of the config
file (``$WEIR_CONFIG``, default ``~/.config/weir/config.yaml``)::

    current-context: prod
    contexts:
      prod: {server: https://weir.example.com, token: eyJhbGciOi...}
      laptop: {server: http://127.0.0.1:8090}

The token is ``--token``, else ``$WEIR_TOKEN``, else the context's. Nothing heavy is imported
at module level: `weir --help` loads this module.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from weir.cli.common import CommandError, UsageError

TOKEN_ENV = "WEIR_TOKEN"
CONFIG_ENV = "WEIR_CONFIG"
TIMEOUT = 30.0
STREAM_READ_TIMEOUT = 60.0
"""The console sends a heartbeat every 15 s: a minute of silence is a dead stream."""
MAX_RECONNECT_DELAY = 10.0


def server_options(parser: argparse.ArgumentParser) -> Any:
    """--server, --context and --token, in a group of their own (returned)."""
    group = parser.add_argument_group("console (instead of --store)")
    group.add_argument(
        "--server", metavar="URL", help="the console's URL, e.g. http://127.0.0.1:8090"
    )
    group.add_argument(
        "--context", metavar="NAME", help=f"a context of the config file (${CONFIG_ENV})"
    )
    group.add_argument("--token", help=f"bearer token (default ${TOKEN_ENV}, else the context's)")
    return group


@dataclass(frozen=True)
class Target:
    server: str
    token: str | None


def config_path() -> Path:
    given = os.environ.get(CONFIG_ENV)
    if given:
        return Path(given)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "weir" / "config.yaml"


def target_of(args: argparse.Namespace, *, required: bool = False) -> Target | None:
    """The console this command talks to; None for the local store (--store, or no server
    given nor configured). `required`: a command only a console can serve."""
    server, context = getattr(args, "server", None), getattr(args, "context", None)
    if getattr(args, "store", None) and (server or context):
        raise UsageError("give --store or --server/--context, not both")
    token = getattr(args, "token", None) or os.environ.get(TOKEN_ENV) or None
    if server:
        return Target(_checked_url(server, "--server"), token)
    if getattr(args, "store", None):
        return None
    found = _context(context)
    if found is None:
        if required:
            raise UsageError(
                f"which console? give --server URL, or a current-context in {config_path()}"
            )
        return None
    return Target(found.server, token or found.token)


def _context(name: str | None) -> Target | None:
    path = config_path()
    if not path.is_file():
        if name:
            raise UsageError(f"--context {name}: there is no config file {path}")
        return None
    config = _read_config(path)
    name = name or config.get("current-context")
    if not name:
        return None
    contexts = config.get("contexts") or {}
    if not isinstance(contexts, dict) or not isinstance(contexts.get(name), dict):
        known = ", ".join(sorted(contexts)) if isinstance(contexts, dict) else ""
        raise UsageError(f"{path}: no context {name!r} under contexts (known: {known or 'none'})")
    entry = contexts[name]
    where = f"{path}: contexts.{name}"
    server, token = entry.get("server"), entry.get("token")
    if not isinstance(server, str) or not server:
        raise UsageError(f"{where}.server: give the console's URL")
    if token is not None and not isinstance(token, str):
        raise UsageError(f"{where}.token: must be text")
    return Target(_checked_url(server, f"{where}.server"), token or None)


def _read_config(path: Path) -> dict[str, Any]:
    import yaml

    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{path} is not valid YAML: {exc}") from None
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise UsageError(f"{path}: expected a mapping with contexts and current-context")
    return config


def _checked_url(url: str, where: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{where}={url!r}: give the console's http:// or https:// URL")
    return url.rstrip("/")


def path_segment(value: str) -> str:
    return quote(value, safe="")


class ApiRefused(CommandError):
    """The console answered, and not with what was asked for; ``status`` is its HTTP status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class Console:
    """Requests to one console's /api/v1, each failure a CommandError saying what to do."""

    def __init__(self, target: Target) -> None:
        import httpx

        headers = {"Accept": "application/json"}
        if target.token:
            headers["Authorization"] = f"Bearer {target.token}"
        self.target = target
        self._http = httpx.Client(base_url=target.server, headers=headers, timeout=TIMEOUT)

    def __enter__(self) -> Console:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self._call("GET", path, params=_clean(params))

    def post(self, path: str, body: Any, params: dict[str, Any] | None = None) -> Any:
        return self._call("POST", path, json=body, params=_clean(params))

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        try:
            response = self._http.request(method, "/api/v1" + path, **kwargs)
        except httpx.HTTPError as exc:
            raise self.unreachable(exc) from None
        self.check(response, f"{method} /api/v1{path}")
        try:
            return response.json()
        except ValueError:
            raise CommandError(
                f"{self.target.server}: {method} /api/v1{path} answered {response.status_code} "
                "with something that is not JSON: is this a Weir console?"
            ) from None

    def check(self, response: Any, what: str) -> None:
        if response.status_code < 300:
            return
        raise ApiRefused(self._refusal(response, what), response.status_code)

    def _refusal(self, response: Any, what: str) -> str:
        status, server = response.status_code, self.target.server
        problem = _problem(response)
        detail = problem or f"{status} {response.reason_phrase}"
        if status == 401:
            hint = "" if self.target.token else f"; give --token, ${TOKEN_ENV} or a context's token"
            return f"{server}: not authenticated: {detail}{hint}"
        if status == 403:
            return f"{server}: not allowed: {detail}"
        if status == 404 and problem is None:
            return f"{server}: {what}: 404, no such API here: is this a Weir console?"
        if status >= 500:
            return f"{server}: the console failed ({status}): {detail}"
        return f"{server}: {detail}"

    def unreachable(self, exc: Exception) -> CommandError:
        import httpx

        server = self.target.server
        if isinstance(exc, httpx.ConnectError):
            reason = str(exc) or "connection refused"
            return CommandError(f"cannot reach the console at {server}: {reason}")
        if isinstance(exc, httpx.TimeoutException):
            return CommandError(f"the console at {server} did not answer within {TIMEOUT:g}s")
        return CommandError(f"talking to the console at {server}: {type(exc).__name__}: {exc}")

    def events(
        self, params: dict[str, Any], last_event_id: int | None = None
    ) -> Iterator[tuple[int | None, str, str]]:
        """Server-sent events as (id, event, data), from after `last_event_id`, reconnecting
        with Last-Event-ID when the stream drops; only a first failure to connect, or a
        refusal, ends it (with a CommandError)."""
        connected = False
        delay = 0.5
        while True:
            try:
                for event in self._stream(params, last_event_id):
                    connected, delay = True, 0.5
                    if event[0] is not None:
                        last_event_id = event[0]
                    yield event
                reason = "the console ended the stream"
            except ApiRefused:
                raise
            except Exception as exc:
                if not connected and _is_http_error(exc):
                    raise self.unreachable(exc) from None
                if not _is_http_error(exc):
                    raise
                reason = str(exc) or type(exc).__name__
            after = f"after event {last_event_id}" if last_event_id is not None else "from now"
            print(f"weir: {reason}; reconnecting in {delay:g}s ({after})", file=sys.stderr)
            time.sleep(delay)
            delay = min(delay * 2, MAX_RECONNECT_DELAY)

    def _stream(
        self, params: dict[str, Any], last_event_id: int | None
    ) -> Iterator[tuple[int | None, str, str]]:
        import httpx

        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        timeout = httpx.Timeout(TIMEOUT, read=STREAM_READ_TIMEOUT)
        with self._http.stream(
            "GET", "/api/v1/events", params=_clean(params), headers=headers, timeout=timeout
        ) as response:
            if response.status_code >= 300:
                response.read()
            self.check(response, "GET /api/v1/events")
            yield from parse_events(response.iter_lines())


def parse_events(lines: Iterator[str]) -> Iterator[tuple[int | None, str, str]]:
    """The text/event-stream format: fields until a blank line; comments (heartbeats) skipped."""
    event_id: int | None = None
    kind, data = "message", list[str]()
    for line in lines:
        if not line:
            if data:
                yield event_id, kind, "\n".join(data)
            event_id, kind, data = None, "message", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            data.append(value)
        elif field == "event":
            kind = value
        elif field == "id" and value.isdigit():
            event_id = int(value)


def _problem(response: Any) -> str | None:
    """The `detail` of a problem+json answer, else None."""
    if "json" not in response.headers.get("content-type", ""):
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and isinstance(body.get("detail"), str):
        return str(body["detail"])
    return None


def _is_http_error(exc: Exception) -> bool:
    import httpx

    return isinstance(exc, httpx.HTTPError | httpx.StreamError)


def _clean(params: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if params is None else {k: v for k, v in params.items() if v is not None}


# The API's JSON as the store's records, so that the same report prints them either way.


def summary_record(item: dict[str, Any]) -> Any:
    """A list row (ExecutionSummary) as an ExecutionRecord without payloads."""
    from weir.store.records import ExecutionRecord

    error = None
    if item.get("errorType") or item.get("errorMessage"):
        error = {"type": item.get("errorType"), "message": item.get("errorMessage") or ""}
    return ExecutionRecord(
        id=item["id"],
        flow=item["flow"],
        namespace=item.get("namespace") or "",
        revision=item.get("revision") or "",
        trigger_kind=item.get("triggerKind") or "",
        trigger={},
        status=item["status"],
        started_at=epoch(item["startedAt"]),
        finished_at=epoch(item.get("finishedAt")),
        error=error,
        replay_of=item.get("replayOf"),
    )


def detail_records(console: Console, execution_id: str) -> tuple[Any, list[Any]]:
    """One execution and its node runs with their payloads (one request per node run)."""
    from weir.store.records import NodeRunRecord

    path = f"/executions/{path_segment(execution_id)}"
    view = console.get(path)
    detail = view["execution"]
    record = summary_record(detail)
    record.trigger = detail.get("trigger") or {}
    record.result = detail.get("result")
    record.error = detail.get("error")
    nodes = []
    for node in view.get("nodes") or []:
        full = console.get(f"{path}/nodes/{node['seq']}")
        nodes.append(
            NodeRunRecord(
                execution_id=record.id,
                seq=full["seq"],
                node=full["node"],
                kind=full["kind"],
                status=full["status"],
                started_at=epoch(full["startedAt"]),
                finished_at=epoch(full["finishedAt"]),
                attempts=full.get("attempts") or [],
                input=full.get("input"),
                output=full.get("output"),
                error=full.get("error"),
            )
        )
    return record, nodes


def epoch(text: Any) -> Any:
    """ISO 8601 text (as the API gives times) as epoch seconds; None stays None."""
    import datetime as dt

    if text is None:
        return None
    return dt.datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
