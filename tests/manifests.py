"""Kubernetes' own schemas for offline manifest checks (kubernetes-validate), each schema file
read once per test session: the library reads its multi-megabyte definitions file from disk on
every call, which made validating every example's manifests take tens of seconds."""

from __future__ import annotations

import functools
from typing import Any

import kubernetes_validate
import kubernetes_validate.utils as schemas

# Parsed schemas are only read by the validators built from them: sharing them is safe.
schemas.schema_contents = functools.lru_cache(maxsize=None)(schemas.schema_contents)


def validate(obj: dict[str, Any], version: str) -> None:
    """``obj`` against Kubernetes ``version``'s schema, strictly (unknown fields refused)."""
    kubernetes_validate.validate(obj, version, strict=True)
