"""What a circuit breaker is set to: a node's ``circuitBreaker`` field and the runner's defaults
(``WEIR_CIRCUIT_BREAKER``); the state machine itself is ``weir.nodes.breaker``."""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    BeforeValidator,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from weir.lang.durations import Duration
from weir.lang.settings import SettingError
from weir.lang.types import Strict

if TYPE_CHECKING:
    from collections.abc import Mapping

    from weir.nodes.kind import NodeKind

ENVIRONMENT = "WEIR_CIRCUIT_BREAKER"
"""The process's defaults: ``off``, or ``failures=5,window=60s,minCalls=5,openFor=30s``."""


class CircuitBreakerPolicy(Strict):
    """A node's circuit breaker: unset fields keep the runner's defaults."""

    failures: int | None = Field(
        None, ge=1, le=100000, description="Failures within the window that open it (5)."
    )
    window: Duration | None = Field(None, description="How far back calls are counted (60s).")
    minCalls: int | None = Field(
        None, ge=1, le=100000, description="Calls within the window before it may open (5)."
    )
    failureRate: float | None = Field(
        None, gt=0, le=100, description="Percent of those calls that must have failed (50)."
    )
    openFor: Duration | None = Field(None, description="How long it stays open (30s).")

    @model_validator(mode="after")
    def _durations_above_zero(self) -> CircuitBreakerPolicy:
        for name in ("window", "openFor"):
            if getattr(self, name) == 0:
                raise ValueError(f"{name} must be longer than 0s")
        return self


CircuitBreaker = Annotated[
    Annotated[bool, Tag("Flag")] | Annotated[CircuitBreakerPolicy, Tag("Policy")],
    # Chosen by the value's type, so that a mistyped setting is reported once, as a setting.
    Discriminator(lambda value: "Flag" if isinstance(value, bool) else "Policy"),
    BeforeValidator(lambda value: _flag_or_mapping(value)),
    WithJsonSchema(
        {
            "description": "false, true, or settings: failures, window, minCalls, failureRate, "
            "openFor.",
            "x-kubernetes-preserve-unknown-fields": True,
        }
    ),
]
"""A node's ``circuitBreaker``: false (none), true (the runner's defaults) or settings."""


def _flag_or_mapping(value: Any) -> Any:
    if isinstance(value, bool | dict | CircuitBreakerPolicy):
        return value
    raise ValueError(
        "circuitBreaker is false (none), true (the runner's defaults) or settings such as "
        f"{{failures: 5, window: 60s, minCalls: 5, openFor: 30s}}, not {value!r}"
    )


@dataclasses.dataclass(frozen=True)
class BreakerSettings:
    failures: int = 5
    window: float = 60.0
    minCalls: int = 5
    failureRate: float = 50.0
    openFor: float = 30.0

    def merged(self, policy: CircuitBreakerPolicy) -> BreakerSettings:
        given = {name: getattr(policy, name) for name in CircuitBreakerPolicy.model_fields}
        return dataclasses.replace(self, **{k: v for k, v in given.items() if v is not None})

    def should_open(self, calls: int, failures: int) -> bool:
        return (
            failures >= self.failures
            and calls >= self.minCalls
            and failures * 100 >= self.failureRate * calls
        )


def defaults_from_environment(environ: dict[str, str] | None = None) -> BreakerSettings | None:
    """The process's defaults from ``WEIR_CIRCUIT_BREAKER``; None when it says ``off``."""
    text = (os.environ if environ is None else environ).get(ENVIRONMENT, "").strip()
    if not text:
        return BreakerSettings()
    if text.lower() in ("off", "false", "0", "no"):
        return None
    fields: dict[str, str] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        if not sep:
            raise SettingError(
                f"{ENVIRONMENT}={text!r}: write off, or name=value pairs such as "
                "failures=5,window=60s,minCalls=5,failureRate=50,openFor=30s"
            )
        fields[name.strip()] = value.strip()
    try:
        policy = CircuitBreakerPolicy.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise SettingError(f"{ENVIRONMENT}={text!r}: {problems}") from None
    return BreakerSettings().merged(policy)


def check_guardable(
    policy: CircuitBreakerPolicy | bool | None, kind: NodeKind, kinds: Mapping[str, NodeKind]
) -> None:
    """A node's ``circuitBreaker`` refused when its kind calls no service."""
    if policy is None or policy is False or kind.connection is not None:
        return
    guarded = ", ".join(name for name, k in kinds.items() if k.connection is not None)
    raise ValueError(
        f"circuitBreaker: a {kind.name} node calls no service it could guard; circuit "
        f"breakers guard {guarded} nodes"
    )
