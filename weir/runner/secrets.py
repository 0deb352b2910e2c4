"""Secret values: resolved at the last moment, and redacted wherever they could leak.

The local resolver reads environment variables and a directory laid out like a mounted
Kubernetes Secret volume (``DIR/<secret>/<key>``); in a cluster the operator mounts each
FlowSecretRef's Secret at exactly that place, so the runner uses the same resolver.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, quote_plus
from xml.sax.saxutils import escape as xml_escape

from weir.flow.types import SecretRef
from weir.runner.errors import ConfigError

if TYPE_CHECKING:
    from weir.flow.load import CompiledFlow

REDACTED = "***"
MIN_REDACTED_LENGTH = 4
"""Shorter values are not scrubbed from text: masking every "a" would destroy the records."""


_WHOLE_URL = re.compile(r"([a-z][a-z0-9+.-]*://[^:/@\s]+:).*@([^@]*)", re.IGNORECASE | re.DOTALL)
_URL_IN_TEXT = re.compile(r"//([^:/@\s]+):[^/\s]*@")


def hide_password(text: str) -> str:
    """The password of a URL replaced by ``***``. A whole URL loses everything up to its last
    ``@`` (a password may hold ``@``, ``/`` or spaces when written unescaped; hiding a little
    more is the safe side); URLs inside a message lose what runs to the last ``@`` before
    their path."""
    whole = _WHOLE_URL.fullmatch(text)
    if whole:
        return f"{whole.group(1)}***@{whole.group(2)}"
    return _URL_IN_TEXT.sub(r"//\1:***@", text)


class SecretResolver(Protocol):
    def resolve(self, secret: str, key: str) -> str: ...


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


def encodings(value: str) -> set[str]:
    """The forms in which a node itself may write a secret into text it produces: as is,
    JSON-escaped, XML-escaped, URL-encoded, and base64 (of the value alone; Basic auth's
    ``user:secret`` is registered by the node that builds it, see ``Secrets.derived``)."""
    forms = {
        value,
        json.dumps(value, ensure_ascii=False)[1:-1],
        json.dumps(value)[1:-1],
        xml_escape(value, {'"': "&quot;", "'": "&apos;"}),
        quote(value, safe=""),
        quote_plus(value, safe=""),
    }
    raw = value.encode("utf-8")
    forms |= {base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}
    # Padding may be cut or the text continue: what never depends on neighbours is enough.
    forms |= {f.rstrip("=") for f in list(forms)}
    return {f for f in forms if len(f) >= MIN_REDACTED_LENGTH}


class Redactor:
    """Remembers every secret value handed out and scrubs it, in each of its encodings, from
    whatever is recorded."""

    def __init__(self) -> None:
        self._values: list[str] = []
        self._escaped: list[str] = []
        self._learned: set[str] = set()
        """Revisions of the flows whose secrets were registered."""

    def add(self, value: str) -> None:
        if len(value) < MIN_REDACTED_LENGTH or value in self._values:
            return
        known = set(self._values) | encodings(value)
        self._values = sorted(known, key=len, reverse=True)  # longest first: overlaps
        self._escaped = [json.dumps(v, ensure_ascii=False)[1:-1] for v in self._values]

    def learn(self, flow: CompiledFlow, resolver: SecretResolver) -> None:
        """Register every secret the flow reads before its first execution records anything,
        so that a trigger payload echoing one is scrubbed too. Secrets that cannot be resolved
        yet are skipped: the node that needs one fails with the reason."""
        from weir.flow.load import walk  # the flow layer imports the node kinds, which use this

        if flow.revision in self._learned:
            return
        self._learned.add(flow.revision)
        spec = flow.flow.spec
        for _loc, ref in [*walk(spec.nodes, ("nodes",)), *walk(spec.trigger, ("trigger",))]:
            if isinstance(ref, SecretRef):
                try:
                    self.add(resolver.resolve(ref.secret, ref.key))
                except ConfigError:
                    continue

    @property
    def active(self) -> bool:
        return bool(self._values)

    def text(self, text: str) -> str:
        for value in self._values:
            if value in text:
                text = text.replace(value, REDACTED)
        return text

    def __call__(self, value: Any) -> Any:
        if not self._values or isinstance(value, int | float | bool) or value is None:
            return value
        if not self._may_contain(value):
            return value
        return self._scrub(value)

    def _may_contain(self, value: Any) -> bool:
        """One C-speed search of the value's JSON text instead of a walk over every string.
        JSON escapes character by character, so a secret inside any string or key shows up
        as its own escaped form in the text."""
        try:
            text = json.dumps(value, ensure_ascii=False, default=_refuse)
        except (TypeError, ValueError):
            return True  # bytes or other non-JSON values: walk it
        return any(escaped in text for escaped in self._escaped)

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self._scrub(k): self._scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._scrub(v) for v in value]
        if isinstance(value, bytes):
            try:
                decoded = value.decode("utf-8")
            except UnicodeDecodeError:
                return value
            scrubbed = self.text(decoded)
            return value if scrubbed == decoded else scrubbed.encode("utf-8")
        return value


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


def _refuse(value: Any) -> Any:
    raise TypeError(type(value).__name__)
