"""Errors a node raises, each saying whether a retry can help.

``NodeError`` is the one error type of an execution: nodes raise it (or a subclass), the engine
passes it along typed, and only when a record is written does it become the JSON the records
keep (``to_dict``). Only the operator's kopf boundary maps them to kopf's temporary/permanent
errors.
"""

from __future__ import annotations

from typing import Any


class NodeError(Exception):
    """A node failed. ``type`` is what retry policies and error transitions match on.

    ``retry_after`` is how many seconds the other side asked to wait before trying again (an
    HTTP ``Retry-After``); the retry policy waits at least that long.
    """

    type = "error"
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        retryable: bool | None = None,
        type: str | None = None,
        details: dict[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if retryable is not None:
            self.retryable = retryable
        if type is not None:
            self.type = type
        self.details = details or {}
        self.retry_after = retry_after

    def reword(self, message: str) -> None:
        """Replace the message, as the engine does to say which item failed or why it was not
        retried (``str(error)`` follows)."""
        self.message = message
        self.args = (message,)

    def to_dict(self) -> dict[str, Any]:
        """The error as records and the ``error`` of expressions show it: ``type``, ``message``,
        ``retryable``, the details, and ``retryAfter`` (seconds) only when it was asked for."""
        record = {
            "type": self.type,
            "message": self.message,
            "retryable": self.retryable,
            **self.details,
        }
        if self.retry_after is not None:
            record["retryAfter"] = self.retry_after
        return record


class ConfigError(NodeError):
    """The node's configuration cannot work (bad value after evaluation, missing secret)."""

    type = "config"


class ConnectionFailed(NodeError):
    """Refused, reset or unreachable: the other side may be back soon."""

    type = "connection"
    retryable = True


class AuthFailed(NodeError):
    type = "auth"


class NodeTimeout(NodeError):
    type = "timeout"
    retryable = True


class NotFound(NodeError):
    type = "not_found"
