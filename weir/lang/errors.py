"""Errors a node raises, each saying whether a retry can help.

Only the engine turns them into execution records; only the operator's kopf boundary maps them
to kopf's temporary/permanent errors.
"""

from __future__ import annotations

from typing import Any


class NodeError(Exception):
    """A node failed. ``type`` is what retry policies and error transitions match on."""

    type = "error"
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        retryable: bool | None = None,
        type: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if retryable is not None:
            self.retryable = retryable
        if type is not None:
            self.type = type
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "message": self.message,
            "retryable": self.retryable,
            **self.details,
        }


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
