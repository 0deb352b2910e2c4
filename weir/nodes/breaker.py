"""Circuit breakers: one per connection (an HTTP origin, a SQL URL, an SFTP host ...) and
process, so that a service that keeps failing is left alone for a while instead of being called
by every execution.

Closed, a circuit counts the calls that finished within a sliding ``window`` and opens when at
least ``minCalls`` finished, at least ``failures`` of them failed and they are at least
``failureRate`` percent of them. Open, every call fails at once with a ``circuitOpen`` error
until ``openFor`` has passed; then one call goes through as a probe (half-open): its success
closes the circuit, its failure opens it again. A probe that never answers (a cancelled
execution) is given up after ``openFor`` and the next call probes.

Only failures that say the other side is unwell count (``counts_against``): connection errors,
timeouts and answers with a 5xx status. A 404, a refused credential or a constraint violation
is the caller's problem and counts as an answer, as a success does.

A node kind takes part by naming its connection (``NodeKind.connection``, made with
``weir.nodes.connections``); the settings are ``weir.nodes.breaker_policy``. The engine asks
``Circuits.admit`` before each attempt and reports its outcome. Everything here runs on the
event loop without awaiting, so no lock is needed.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from weir.lang.durations import format_duration
from weir.lang.errors import NodeError
from weir.lang.times import iso
from weir.nodes.breaker_policy import (
    BreakerSettings,
    CircuitBreakerPolicy,
    defaults_from_environment,
)

if TYPE_CHECKING:
    from weir.nodes.context import NodeContext
    from weir.nodes.kind import NodeKind
    from weir.nodes.resources import Resources

CIRCUIT_OPEN = "circuitOpen"
"""The error type of a call refused by an open circuit."""
COUNTED_TYPES = frozenset({"connection", "timeout"})
SLOTS = 60
"""A window is counted in this many slots: a call leaves the count within window/60 of its age
reaching the window, and a busy connection keeps 60 counters, not one entry per call."""
MAX_CIRCUITS = 1000
"""Closed, idle circuits are forgotten beyond this many (URLs with ever new hosts)."""

CLOSED, HALF_OPEN, OPEN = 0, 1, 2
STATE_NAMES = ("closed", "halfOpen", "open")


def counts_against(error: BaseException) -> bool:
    """Whether a failed call says the connection is unwell (see the module's docstring)."""
    if isinstance(error, NodeError):
        if error.type in COUNTED_TYPES:
            return True
        status = error.details.get("status")
        return isinstance(status, int) and status >= 500
    return isinstance(error, TimeoutError | ConnectionError)


class CircuitOpen(NodeError):
    """A call refused at once: the circuit of its connection is open. Not retryable: a retry
    policy retries it only when its ``retryOn`` names ``circuitOpen``, and then waits until the
    circuit lets a probe through (``retry_after``)."""

    type = CIRCUIT_OPEN
    retryable = False


class Circuit:
    """One connection's state machine; ``clock`` is monotonic seconds (a fake one in tests)."""

    def __init__(
        self, connection: str, settings: BreakerSettings, clock: Callable[[], float]
    ) -> None:
        self.connection = connection
        self.settings = settings
        self._clock = clock
        self._resolution = settings.window / SLOTS
        self._slots: deque[list[int]] = deque()  # [slot number, calls, failures]
        self._calls = 0
        self._failures = 0
        self.state = CLOSED
        self.epoch = 0  # raised at each change: outcomes of calls admitted before are ignored
        self.probe_at = 0.0
        self.changed_at = clock()
        self.rejected = 0
        self.reason = ""

    def admit(self) -> int:
        """The epoch the call runs in; ``CircuitOpen`` when it may not run now."""
        if self.state == CLOSED:
            return self.epoch
        now = self._clock()
        if now < self.probe_at:
            self.rejected += 1
            raise self._refusal(now)
        # Open long enough, or the last probe never answered: this call is the probe, and
        # every other waits for its answer (for at most openFor).
        self._change(HALF_OPEN, now)
        self.probe_at = now + self.settings.openFor
        return self.epoch

    def record(self, epoch: int, error: BaseException | None) -> None:
        """A call admitted in ``epoch`` succeeded (``error`` None) or failed."""
        if epoch != self.epoch:
            return
        failed = error is not None and counts_against(error)
        now = self._clock()
        if self.state == HALF_OPEN:
            if failed:
                self._open(now, f"the probe failed ({_what(error)})")
            else:
                self._change(CLOSED, now)
            return
        calls, failures = self._count(now, failed)
        if failed and self.settings.should_open(calls, failures):
            window = format_duration(self.settings.window)
            self._open(now, f"{failures} of {calls} calls failed within {window} ({_what(error)})")

    def idle(self) -> bool:
        """Closed, and no call finished within the window."""
        if self.state != CLOSED:
            return False
        slot = int(self._clock() // self._resolution)
        return not self._slots or self._slots[-1][0] <= slot - SLOTS

    def report(self) -> dict[str, Any]:
        """The circuit as ``/readyz`` shows it: no message of any call, only types."""
        ago = self._clock() - self.changed_at
        return {
            "connection": self.connection,
            "state": STATE_NAMES[self.state],
            "since": _stamp(-ago),
            "probeAt": _stamp(self.probe_at - self._clock()),
            "reason": self.reason,
            "rejected": self.rejected,
        }

    def _count(self, now: float, failed: bool) -> tuple[int, int]:
        slot = int(now // self._resolution)
        slots = self._slots
        if slots and slots[-1][0] == slot:
            bucket = slots[-1]
        else:
            bucket = [slot, 0, 0]
            slots.append(bucket)
        bucket[1] += 1
        self._calls += 1
        if failed:
            bucket[2] += 1
            self._failures += 1
        while slots[0][0] <= slot - SLOTS:
            _, calls, failures = slots.popleft()
            self._calls -= calls
            self._failures -= failures
        return self._calls, self._failures

    def _open(self, now: float, reason: str) -> None:
        self._change(OPEN, now)
        self.probe_at = now + self.settings.openFor
        self.reason = reason

    def _change(self, state: int, now: float) -> None:
        self.state = state
        self.epoch += 1
        self.changed_at = now
        self._slots.clear()
        self._calls = self._failures = 0

    def _refusal(self, now: float) -> CircuitOpen:
        wait = self.probe_at - now
        stamp = _stamp(wait)
        when = (
            f"a probe is in flight; another may go at {stamp}"
            if self.state == HALF_OPEN
            else f"the next call probes it at {stamp} (in {wait:.1f}s)"
        )
        return CircuitOpen(
            f"circuit open for {self.connection}: {self.reason}; calls fail at once, {when}",
            details={"connection": self.connection, "probeAt": stamp},
            retry_after=round(wait, 3),
        )


def _stamp(offset: float) -> str:
    """The wall-clock time ``offset`` seconds from now, as UTC ISO 8601."""
    return iso(time.time() + offset)


def _what(error: BaseException | None) -> str:
    """A failure as the circuit's reason names it: its type and status, never its message
    (which may quote what one execution sent)."""
    if isinstance(error, NodeError):
        status = error.details.get("status")
        return f"last: {error.type} {status}" if status else f"last: {error.type}"
    return f"last: {type(error).__name__}"


class Ticket:
    """One admitted call; the engine reports how it ended."""

    __slots__ = ("circuit", "epoch")

    def __init__(self, circuit: Circuit, epoch: int) -> None:
        self.circuit = circuit
        self.epoch = epoch

    def succeeded(self) -> None:
        self.circuit.record(self.epoch, None)

    def failed(self, error: BaseException) -> None:
        self.circuit.record(self.epoch, error)


class Circuits:
    """The circuits of one engine (one per runner process), by connection and settings."""

    def __init__(
        self,
        defaults: BreakerSettings | bool | None = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # True: read the environment; None: off unless a node asks; settings: these.
        self.defaults = defaults_from_environment() if defaults is True else defaults or None
        self._clock = clock
        self._circuits: dict[tuple[str, BreakerSettings], Circuit] = {}

    def admit(self, kind: NodeKind, node: Any, ctx: NodeContext) -> Ticket | None:
        """A ticket for the attempt about to run, None when no circuit guards it;
        ``CircuitOpen`` when its circuit refuses it."""
        connection = kind.connection
        if connection is None:
            return None
        settings = self.settings_for(node.circuitBreaker)
        if settings is None:
            return None
        try:
            key = connection(node.config, ctx)
        except Exception:  # an unusable config: the node's own run says what is wrong
            return None
        if key is None:
            return None
        circuit = self._circuits.get((key, settings))
        if circuit is None:
            circuit = self._new(key, settings)
        return Ticket(circuit, circuit.admit())

    def settings_for(self, policy: CircuitBreakerPolicy | bool | None) -> BreakerSettings | None:
        if policy is None:
            return self.defaults
        if policy is False:
            return None
        base = self.defaults or BreakerSettings()
        return base if policy is True else base.merged(policy)

    def __iter__(self) -> Iterator[Circuit]:
        return iter(list(self._circuits.values()))

    def not_closed(self) -> list[dict[str, Any]]:
        """The open and half-open circuits, as ``/readyz`` lists them."""
        return [c.report() for c in self if c.state != CLOSED]

    def _new(self, key: str, settings: BreakerSettings) -> Circuit:
        if len(self._circuits) >= MAX_CIRCUITS:
            for old, circuit in list(self._circuits.items()):
                if circuit.idle():
                    del self._circuits[old]
        circuit = self._circuits[(key, settings)] = Circuit(key, settings, self._clock)
        return circuit


def circuits_of(resources: Resources) -> Circuits:
    """The engine's circuits, kept with its other shared clients."""
    return resources.get(("circuits",), Circuits)
