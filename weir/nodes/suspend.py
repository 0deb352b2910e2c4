"""How a node kind parks its execution: it raises ``Suspend`` with a ``WaitRequest``.

The engine records the node run as ``waiting`` and the wait in the store in one transaction,
lets the execution's other branches finish, and records the execution ``waiting``. A runner
resumes it later (weir.engine.resume): the node then succeeds with the wait's output, fails
with its error, or takes the transitions the wait names (a person's wait that timed out).

``Suspend`` is a ``BaseException``: a node's ``except Exception`` never swallows it, and the
attempt loop neither retries it nor counts it against a circuit breaker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from weir.lang.ids import new_execution_id

WaitKind = Literal["timer", "human", "child"]


@dataclass
class WaitRequest:
    """What a node waits for.

    ``due_at`` (epoch seconds): when a timer fires, or when a person's or a child's wait times
    out; None: no deadline. ``details`` is kind-specific JSON kept with the wait; the engine
    reads two keys of it when the wait comes due unresolved: ``output`` (the node's output
    then, e.g. a sleep's ``{sleptUntil}``) and ``onTimeout`` (node names taken instead of the
    node's transitions). ``public`` is what the waiting node run shows as its output beside
    the wait's id, kind and due time (a resume URL; never a secret). ``id`` is known before
    the node raises, so that a node can put it in a URL.
    """

    kind: WaitKind
    due_at: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    public: dict[str, Any] = field(default_factory=dict)
    token_hash: str | None = None
    """sha256 hex of a resume secret (a person's wait); the secret itself is never stored."""
    schema: dict[str, Any] | None = None
    """A JSON Schema a resume payload must satisfy."""
    id: str = field(default_factory=new_execution_id)


class Suspend(BaseException):
    """Raised by a node kind to park its execution on ``wait``."""

    def __init__(self, wait: WaitRequest) -> None:
        super().__init__(f"waiting ({wait.kind})")
        self.wait = wait
