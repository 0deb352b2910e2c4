"""What a node sees while it runs: its scope, secrets, shared clients, the state store and a
logger."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from weir.lang.expressions import Expr, to_text
from weir.lang.types import SecretRef
from weir.nodes.resources import Resources
from weir.nodes.spool import Spool
from weir.nodes.state_store import StateStore
from weir.secrets.resolve import Secrets

NODE_LOGGER = logging.getLogger("weir.node")


class NodeContext:
    """One attempt of one node (one item, under forEach).

    ``eval`` evaluates a compiled field of the node's config against the execution scope and
    keeps the value as the node's recorded input, under the field's name.
    """

    __slots__ = (
        "_log",
        "attempt",
        "execution_id",
        "flow_name",
        "input",
        "node",
        "resources",
        "scope",
        "secrets",
        "spool",
        "state",
    )

    def __init__(
        self,
        *,
        node: str,
        flow_name: str,
        execution_id: str,
        scope: Mapping[str, Any],
        secrets: Secrets,
        resources: Resources,
        spool: Spool | None = None,
        attempt: int = 1,
        state: StateStore | None = None,
    ) -> None:
        self.node = node
        self.flow_name = flow_name
        self.execution_id = execution_id
        self.scope = scope
        self.secrets = secrets
        self.resources = resources
        self.spool = spool or Spool()
        self.attempt = attempt
        self.state = state
        """The state node's keys (the execution store's); None when no store records."""
        self.input: dict[str, Any] = {}
        self._log: logging.LoggerAdapter[logging.Logger] | None = None

    @property
    def log(self) -> logging.LoggerAdapter[logging.Logger]:
        """The node's logger, made on first use: most attempts never log."""
        if self._log is None:
            self._log = logging.LoggerAdapter(
                NODE_LOGGER,
                {"flow": self.flow_name, "execution": self.execution_id, "node": self.node},
            )
        return self._log

    def eval(self, expr: Expr | None, default: Any = None) -> Any:
        if expr is None:
            return default
        value = expr.evaluate(self.scope)
        self.input[expr.label] = value
        return value

    def text(self, expr: Expr | None, default: str = "") -> str:
        return default if expr is None else to_text(self.eval(expr))

    def reveal(self, value: str | SecretRef) -> str:
        return self.secrets.reveal(value)
