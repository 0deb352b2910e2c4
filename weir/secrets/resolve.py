"""Secret values: resolved at the last moment, and redacted wherever they could leak.

The local resolver reads environment variables and a directory laid out like a mounted
Kubernetes Secret volume (``DIR/<secret>/<key>``); in a cluster the operator mounts each
FlowSecretRef's Secret at exactly that place, so the runner uses the same resolver.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from weir.lang.errors import ConfigError
from weir.lang.types import SecretRef
from weir.secrets.redact import Redactor


class SecretResolver(Protocol):
    def resolve(self, secret: str, key: str) -> str: ...


@functools.lru_cache(maxsize=1024)  # asked for every reference a node reveals, every call
def env_var_name(secret: str, key: str) -> str:
    """``WEIR_SECRET_<SECRET>_<KEY>``, upper case, other characters as ``_``."""
    return re.sub(r"[^A-Z0-9]", "_", f"WEIR_SECRET_{secret}_{key}".upper())


class LocalSecretResolver:
    """Environment variables first, then files under ``directory``."""

    def __init__(
        self, directory: str | Path | None = None, environ: Mapping[str, str] | None = None
    ):
        self.directory = Path(directory) if directory else None
        self.environ = os.environ if environ is None else environ

    def resolve(self, secret: str, key: str) -> str:
        value = self.environ.get(env_var_name(secret, key))
        if value is not None:
            return value
        if self.directory is not None:
            path = self.directory / secret / key
            try:
                return path.read_text(encoding="utf-8").rstrip("\n")
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise ConfigError(
                    f"secret {secret}/{key}: cannot read {path}: {exc.strerror}"
                ) from None
        where = f" or the file {self.directory / secret / key}" if self.directory else ""
        raise ConfigError(
            f"secret {secret}/{key} not found: set {env_var_name(secret, key)}{where}"
        )


class Secrets:
    """What a node sees: resolve a reference (or pass a literal through) and register it."""

    def __init__(self, resolver: SecretResolver, redactor: Redactor, declared: set[str]):
        self._resolver = resolver
        self._redactor = redactor
        self._declared = declared

    def reveal(self, value: str | SecretRef) -> str:
        if isinstance(value, str):
            return value
        if value.secret not in self._declared:
            raise ConfigError(f"secret {value.secret!r} is not declared in spec.secrets")
        resolved = self._resolver.resolve(value.secret, value.key)
        self._redactor.add(resolved)
        return resolved

    def redact(self, text: str) -> str:
        """The text with every known secret hidden: for what a node cuts before recording
        (a preview), so that no secret is cut in two and half of it kept."""
        return self._redactor.text(text)

    def derived(self, value: str) -> str:
        """Register a value a node made from secrets (a Basic auth header, a signed token),
        so that it is scrubbed like the secrets themselves."""
        self._redactor.add(value)
        return value
