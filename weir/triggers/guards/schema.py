"""JSON Schema checks of a trigger's payload, with the validator built once per flow revision.

A request runs on the revision current when it arrived; its validator is looked up by that
revision, so a reload compiles the new schema once and requests still on the old revision keep
theirs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from weir.flow.load import CompiledFlow

KEPT_REVISIONS = 4
"""Validators kept: the current revision and the few that requests in flight may still use."""


class SchemaCheck:
    """Every failure of a payload against the schema ``schema_of`` finds in a revision."""

    def __init__(self, schema_of: Callable[[CompiledFlow], dict[str, Any] | None]) -> None:
        self.schema_of = schema_of
        self._validators: dict[str, Any] = {}  # revision -> validator, or None without schema

    def failures(self, flow: CompiledFlow, payload: Any) -> list[str]:
        """``path: message`` for each failure, in path order; empty when the payload fits."""
        validator = self._validator(flow)
        if validator is None:
            return []
        errors = sorted(validator.iter_errors(payload), key=lambda e: list(e.absolute_path))
        return [
            f"{'/'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
            for error in errors
        ]

    def _validator(self, flow: CompiledFlow) -> Any:
        if flow.revision not in self._validators:
            schema = self.schema_of(flow)
            validator = None
            if schema is not None:
                from jsonschema import Draft202012Validator

                validator = Draft202012Validator(schema)
            while len(self._validators) >= KEPT_REVISIONS:
                del self._validators[next(iter(self._validators))]  # the oldest
            self._validators[flow.revision] = validator
        return self._validators[flow.revision]
