"""The engine: runs a compiled flow's graph for one trigger event and records every node run.

The parts live in modules of their own: ``execution`` (one execution, its records), ``walk``
(which nodes run next), ``attempts`` (a node's attempts: timeout, retries), ``foreach`` and
``failures``; ``events`` holds what goes in and comes out, re-exported here for callers.
"""

from __future__ import annotations

from typing import cast

from weir.engine.events import ExecutionListener, ExecutionResult, Replay, TriggerEvent
from weir.engine.execution import Execution
from weir.flow.load import CompiledFlow
from weir.lang.ids import new_execution_id
from weir.nodes.resources import Resources
from weir.nodes.state_store import StateStore
from weir.secrets.redact import Redactor
from weir.secrets.resolve import LocalSecretResolver, SecretResolver, Secrets
from weir.store.base import ExecutionStore

__all__ = ["Engine", "ExecutionListener", "ExecutionResult", "Replay", "TriggerEvent"]

KEPT_REVISIONS = 8
"""Revisions whose secrets are kept: the current one, those in flight, child flows'."""


class Engine:
    """Runs executions; owns the shared clients, the secret resolver and the store, whose
    database also keeps the state node's keys."""

    def __init__(
        self,
        *,
        store: ExecutionStore | None = None,
        secrets: SecretResolver | None = None,
        listeners: list[ExecutionListener] | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        self.store = store
        self.secrets = secrets or LocalSecretResolver()
        self.listeners = listeners or []
        self.redactor = redactor or Redactor()
        self.resources = Resources()
        self.state = state_of(store)
        self._secrets: dict[str, Secrets] = {}

    def secrets_of(self, compiled: CompiledFlow) -> Secrets:
        """The secrets a revision's nodes may read: one object per revision, as it keeps
        nothing of an execution (the redactor it feeds is the engine's)."""
        found = self._secrets.get(compiled.revision)
        if found is None:
            while len(self._secrets) >= KEPT_REVISIONS:
                del self._secrets[next(iter(self._secrets))]  # the oldest
            declared = set(compiled.secret_names)
            found = self._secrets[compiled.revision] = Secrets(
                self.secrets, self.redactor, declared
            )
        return found

    async def execute(
        self,
        flow: CompiledFlow,
        event: TriggerEvent,
        *,
        execution_id: str | None = None,
        replay: Replay | None = None,
    ) -> ExecutionResult:
        run = Execution(self, flow, event, execution_id or new_execution_id(), replay)
        return await run.run()

    async def aclose(self) -> None:
        await self.resources.aclose()
        if self.store is not None:
            await self.store.aclose()


def state_of(store: ExecutionStore | None) -> StateStore | None:
    """The store's state keys, if it keeps them (the SQL store does)."""
    make_state = getattr(store, "state", None)
    return cast("StateStore", make_state()) if callable(make_state) else None
