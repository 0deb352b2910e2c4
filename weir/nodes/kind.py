"""What a node kind is: a typed config model plus the coroutine that runs it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:
    from weir.nodes.context import NodeContext


@dataclass(frozen=True)
class NodeKind:
    """One entry of the node registry.

    ``run(config, ctx)`` returns the node's output (any JSON-like value). Node modules import
    their connector libraries inside ``run`` so that validating a flow (CLI, operator) never
    needs the connectors installed.

    ``connection(config, ctx)``, for kinds that call a service, names the service (an HTTP
    origin, a SQL URL without its password ...) whose circuit breaker guards the node
    (``weir.nodes.breaker``); None for kinds that call none.
    """

    name: str
    config: type[BaseModel]
    run: Callable[[Any, NodeContext], Awaitable[Any]]
    summary: str
    connection: Callable[[Any, NodeContext], str | None] | None = None
