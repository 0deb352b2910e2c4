"""Status in kstatus style: observedGeneration, a phase, and conditions with reasons and
messages that tell the user what to fix. Flux and Argo CD read health from it."""

from __future__ import annotations

from typing import Any

from weir.lang.times import now

CONDITION_TYPES = ("Ready", "Reconciling", "Stalled", "Valid", "SecretsResolved", "Available")


class Conditions:
    """Builds the conditions list, keeping lastTransitionTime when a status did not change."""

    def __init__(self, previous: list[dict[str, Any]] | None, generation: int | None) -> None:
        self._previous = {c.get("type"): c for c in previous or []}
        self._generation = generation
        self._current: dict[str, dict[str, Any]] = {}

    def set(self, kind: str, status: bool, reason: str, message: str = "") -> None:
        value = "True" if status else "False"
        old = self._previous.get(kind)
        changed = old is None or old.get("status") != value
        condition: dict[str, Any] = {
            "type": kind,
            "status": value,
            "reason": reason,
            "message": message,
            "lastTransitionTime": now()
            if changed or old is None
            else old.get("lastTransitionTime", now()),
        }
        if self._generation is not None:
            condition["observedGeneration"] = self._generation
        self._current[kind] = condition

    def get(self, kind: str) -> dict[str, Any] | None:
        return self._current.get(kind)

    def as_list(self) -> list[dict[str, Any]]:
        order = {kind: i for i, kind in enumerate(CONDITION_TYPES)}
        return sorted(self._current.values(), key=lambda c: order.get(c["type"], 99))


def ready_message(conditions: Conditions) -> str:
    ready = conditions.get("Ready")
    return str(ready["message"]) if ready else ""
