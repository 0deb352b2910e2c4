"""Mocked nodes and the case's secrets.

A mocked node does not run: the engine's attempts for the execution are wrapped
(``MockedAttempts``), and a mocked node's attempt returns the mock's output or raises its error
instead of calling the node kind. Everything else about the node is the engine's: it is
recorded with its own kind (its recorded input is ``{"mocked": true}``), its transitions,
``when`` conditions and ``onError`` are taken as usual.

``flow_under_test`` adapts the compiled flow: a mocked forEach node's mock is its whole output
(the list), not one item's, so its ``forEach`` is dropped; retries keep their number of
attempts but not their delays, so that a test of a retried failure does not wait.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Mapping
from typing import Any

from weir.engine.attempts import NodeAttempts
from weir.flow.load import CompiledFlow
from weir.flow.model import NodeBase
from weir.harness.spec import NodeMock, Secrets
from weir.lang.errors import ConfigError, NodeError
from weir.store.records import Attempt

MOCKED_INPUT = {"mocked": True}


class MockedAttempts:
    """The execution's ``NodeAttempts``, answering mocked nodes from their mocks."""

    def __init__(self, inner: NodeAttempts, mocks: Mapping[str, NodeMock]) -> None:
        self.inner = inner
        self.mocks = mocks

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def run(
        self,
        node: NodeBase,
        scope: Mapping[str, Any],
        attempts: list[Attempt],
        inputs: list[dict[str, Any]],
    ) -> Any:
        mock = self.mocks.get(node.name)
        if mock is None:
            return await self.inner.run(node, scope, attempts, inputs)
        started = time.time()
        inputs.append(dict(MOCKED_INPUT))
        if mock.error is not None:
            error = NodeError(
                mock.error.message,
                type=mock.error.type,
                retryable=mock.error.retryable,
                details={"attempts": 1},
            )
            attempts.append(Attempt(1, started, time.time(), error.to_dict()))
            raise error
        attempts.append(Attempt(1, started, time.time()))
        return copy.deepcopy(mock.output)  # a node downstream may not change the mock


def flow_under_test(flow: CompiledFlow, mocked: set[str]) -> CompiledFlow:
    """The flow with mocked nodes run once (no forEach) and retries without delays."""
    nodes: dict[str, NodeBase] = {}
    for name, node in flow.graph.nodes.items():
        changes: dict[str, Any] = {}
        if name in mocked and node.forEach is not None:
            changes["forEach"] = None
        if node.retry is not None:
            changes["retry"] = node.retry.model_copy(update={"initialDelay": 0.0})
        nodes[name] = node.model_copy(update=changes) if changes else node
    graph = dataclasses.replace(flow.graph, nodes=nodes)
    return dataclasses.replace(flow, graph=graph)


class CaseSecrets:
    """The secrets a test gives: a secret it does not give is missing, never looked up on the
    machine running the test (a test passes or fails the same everywhere)."""

    def __init__(self, values: Secrets) -> None:
        self.values = values

    def resolve(self, secret: str, key: str) -> str:
        try:
            return self.values[secret][key]
        except KeyError:
            given = ", ".join(f"{s}/{k}" for s, keys in self.values.items() for k in keys)
            raise ConfigError(
                f"secret {secret}/{key} is not given by the test (secrets: {given or 'none'})"
            ) from None
