"""One node's attempts: each bounded by the node's ``timeout``, failures tried again as its
``retry`` policy says, every attempt recorded."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from weir.engine.failures import as_node_error
from weir.engine.retry import RetryDecider
from weir.flow.model import NodeBase
from weir.lang.errors import ConfigError
from weir.nodes import NODE_KINDS
from weir.nodes.breaker import circuits_of
from weir.nodes.context import NodeContext
from weir.nodes.resources import Resources
from weir.nodes.spool import Spool
from weir.nodes.state_store import StateStore
from weir.nodes.suspend import Suspend
from weir.secrets.redact import Redactor
from weir.secrets.resolve import Secrets
from weir.store.records import Attempt


class NodeAttempts:
    """Runs nodes' attempts for one execution, with that execution's secrets, shared clients,
    spool and state store."""

    def __init__(
        self,
        *,
        flow_name: str,
        execution_id: str,
        secrets: Secrets,
        resources: Resources,
        spool: Spool,
        redactor: Redactor,
        log: logging.Logger,
        state: StateStore | None = None,
    ) -> None:
        self.flow_name = flow_name
        self.execution_id = execution_id
        self.secrets = secrets
        self.resources = resources
        self.spool = spool
        self.redactor = redactor
        self._logger = log
        self._log: logging.LoggerAdapter[logging.Logger] | None = None
        self.state = state

    @property
    def log(self) -> logging.LoggerAdapter[logging.Logger]:
        """The execution's logger, made on first use: only a retry logs here."""
        if self._log is None:
            extra = {"flow": self.flow_name, "execution": self.execution_id}
            self._log = logging.LoggerAdapter(self._logger, extra)
        return self._log

    async def run(
        self,
        node: NodeBase,
        scope: Mapping[str, Any],
        attempts: list[Attempt],
        inputs: list[dict[str, Any]],
    ) -> Any:
        """The node's output; its error (a ``NodeError``) once no attempt is left. Every
        attempt goes to ``attempts``, the last attempt's evaluated input to ``inputs``."""
        kind = NODE_KINDS[node.kind]
        circuits = circuits_of(self.resources)
        decider = None  # made when an attempt fails: most never do
        number = 0
        while True:
            number += 1
            ctx = self._context(node, scope, number)
            started = time.time()
            ticket = None  # the attempt's pass through its connection's circuit breaker
            try:
                ticket = circuits.admit(kind, node, ctx)  # CircuitOpen: refused at once
                if node.timeout is None:
                    output = await kind.run(node.config, ctx)
                else:
                    async with asyncio.timeout(node.timeout):
                        output = await kind.run(node.config, ctx)
            except Suspend:  # the node parks its execution: no retry, not a failure of its service
                if ticket is not None:
                    ticket.succeeded()
                attempts.append(Attempt(number, started, time.time()))
                inputs.append(ctx.input)
                if node.forEach is not None:  # one item cannot park the others
                    raise ConfigError(f"a {node.kind} node cannot wait under forEach") from None
                raise
            except Exception as exc:  # every failure becomes a NodeError with retryability
                error = as_node_error(exc, node)
                if ticket is not None:
                    ticket.failed(error)
                attempts.append(Attempt(number, started, time.time(), error.to_dict()))
                decider = decider or RetryDecider(node.retry)
                delay = decider.delay_before_next(number, error)
                if delay is None:
                    inputs.append(ctx.input)
                    error.details.setdefault("attempts", number)
                    raise error from None
                self.log.info(
                    "node %s attempt %d failed (%s); retrying in %.2fs",
                    node.name,
                    number,
                    self.redactor.text(error.message),
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            if ticket is not None:
                ticket.succeeded()
            attempts.append(Attempt(number, started, time.time()))
            inputs.append(ctx.input)
            return output

    def _context(self, node: NodeBase, scope: Mapping[str, Any], attempt: int) -> NodeContext:
        return NodeContext(
            node=node.name,
            flow_name=self.flow_name,
            execution_id=self.execution_id,
            scope=scope,
            secrets=self.secrets,
            resources=self.resources,
            spool=self.spool,
            attempt=attempt,
            state=self.state,
        )
