"""Checking a resume payload against the wait's JSON Schema: every problem, each with its
place, so that a person fixing the form sees all of them at once."""

from __future__ import annotations

from typing import Any


def schema_problem(schema: Any) -> str | None:
    """What is wrong with ``schema`` as a JSON Schema (2020-12), or None."""
    from jsonschema import Draft202012Validator  # here: validating other flows never loads it
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return str(exc.message)
    return None


def payload_problems(schema: dict[str, Any] | None, payload: Any) -> list[str]:
    """Each way ``payload`` fails ``schema``, as ``place: message``; empty when it fits."""
    if not schema:
        return []
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(schema)
    problems = []
    for error in sorted(validator.iter_errors(payload), key=lambda e: str(list(e.absolute_path))):
        place = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        problems.append(f"payload{place}: {error.message}")
    return problems
