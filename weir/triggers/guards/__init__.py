"""The request guards every HTTP trigger (REST, SOAP, MCP) puts in front of its flow.

In order, each refusal a :class:`Rejection`: the declared body size (413), credentials the
runner cannot read (503, naming nothing), bearer or basic credentials (401 with
``WWW-Authenticate``, before the body is read), the body within ``maxBodySize`` (413), within
the body timeout (408) and complete (400), and an HMAC signature of the body (401). The payload
is checked against a JSON Schema by :class:`SchemaCheck` once the trigger has decoded it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from typing import Protocol

from weir.engine.service import FlowService
from weir.flow.triggers import HttpAuth
from weir.triggers.guards.auth import CredentialsWatch, check_auth, needs_body, unavailable
from weir.triggers.guards.body import check_declared_size, read_body
from weir.triggers.guards.schema import SchemaCheck
from weir.triggers.rejection import Rejection

__all__ = ["GuardedSpec", "RequestGuards", "SchemaCheck", "log_refusal"]

QUIET_STATUSES = {429, 503}
"""Refusals for capacity, not for a bad request: logged at debug, not as warnings."""


class GuardedSpec(Protocol):
    """What a trigger spec tells the guards (RestTrigger and McpTrigger both do)."""

    @property
    def auth(self) -> HttpAuth | None: ...

    @property
    def maxBodySize(self) -> int: ...


class RequestGuards:
    def __init__(
        self, trigger: str, service: FlowService, body_timeout: float, log: logging.Logger
    ) -> None:
        self.service = service
        self.body_timeout = body_timeout
        self.credentials = CredentialsWatch(trigger, log)

    def problem(self, spec: GuardedSpec) -> str | None:
        """Why the credentials cannot be checked now (for ``/readyz``), or None."""
        return self.credentials.problem(spec.auth, self.service.secrets())

    async def admit(
        self,
        spec: GuardedSpec,
        headers: Mapping[str, str],
        content_length: int | None,
        chunks: AsyncIterator[bytes] | bytes,
    ) -> bytes:
        """The request's body once every guard let it pass; a Rejection otherwise.
        ``headers`` must look names up case-insensitively; ``chunks`` may be the whole body
        when it has already arrived."""
        check_declared_size(content_length, spec.maxBodySize)
        auth = spec.auth
        if auth is None:  # no secrets to look up
            return await read_body(chunks, spec.maxBodySize, self.body_timeout)
        secrets = self.service.secrets()
        if self.credentials.problem(auth, secrets) is not None:
            raise unavailable()
        if not needs_body(auth):
            check_auth(auth, headers, b"", secrets)
        body = await read_body(chunks, spec.maxBodySize, self.body_timeout)
        if needs_body(auth):
            check_auth(auth, headers, body, secrets)
        return body


def log_refusal(log: logging.Logger, method: str, path: str, rejection: Rejection) -> None:
    """One line per refused request, without a traceback."""
    level = logging.DEBUG if rejection.status in QUIET_STATUSES else logging.WARNING
    log.log(
        level,
        "rejected %s %s: %d %s",
        method,
        path,
        rejection.status,
        rejection.message[:300],
    )
