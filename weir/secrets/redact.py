"""Redaction: every secret value handed out is remembered and scrubbed, in each of its
encodings, from whatever is recorded or logged."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, quote_plus

import orjson

from weir.lang.errors import ConfigError

if TYPE_CHECKING:  # the types module brings pydantic, which a command listing records never needs
    from weir.lang.types import SecretRef

REDACTED = "***"
MIN_REDACTED_LENGTH = 4
"""Shorter values are not scrubbed from text: masking every "a" would destroy the records."""


_WHOLE_URL = re.compile(r"([a-z][a-z0-9+.-]*://[^:/@\s]+:).*@([^@]*)", re.IGNORECASE | re.DOTALL)
_URL_IN_TEXT = re.compile(r"//([^:/@\s]+):[^/\s]*@")


def hide_password(text: str) -> str:
    """The password of a URL replaced by ``***``.

    A whole URL with one ``@`` is read and written back by SQLAlchemy (in its canonical form).
    Where SQLAlchemy would misread the text: a whole URL loses everything up to its last ``@``
    (a password may hold ``@``, ``/`` or spaces when written unescaped; hiding a little more is
    the safe side), and URLs inside a message (a driver's error) lose what runs to the last
    ``@`` before their path."""
    if text.count("@") == 1 and not any(c.isspace() for c in text):
        # Imported here: SQLAlchemy costs commands that never show a URL a noticeable start-up.
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(text)
        except (ArgumentError, ValueError):
            pass
        else:
            return text if url.password is None else url.render_as_string(hide_password=True)
    whole = _WHOLE_URL.fullmatch(text)
    if whole:
        return f"{whole.group(1)}***@{whole.group(2)}"
    return _URL_IN_TEXT.sub(r"//\1:***@", text)


def _xml_escaped(value: str) -> str:
    """As ``xml.sax.saxutils.escape`` with both quotes, which costs every command importing
    this 6 ms (it imports urllib.request)."""
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&apos;")
    )


def encodings(value: str) -> set[str]:
    """The forms in which a node itself may write a secret into text it produces: as is,
    JSON-escaped, XML-escaped, URL-encoded, and base64 (of the value alone; Basic auth's
    ``user:secret`` is registered by the node that builds it, see ``Secrets.derived``)."""
    forms = {
        value,
        json.dumps(value, ensure_ascii=False)[1:-1],
        json.dumps(value)[1:-1],
        _xml_escaped(value),
        quote(value, safe=""),
        quote_plus(value, safe=""),
    }
    raw = value.encode("utf-8")
    forms |= {base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}
    # Padding may be cut or the text continue: what never depends on neighbours is enough.
    forms |= {f.rstrip("=") for f in list(forms)}
    return {f for f in forms if len(f) >= MIN_REDACTED_LENGTH}


class Resolver(Protocol):
    def resolve(self, secret: str, key: str) -> str: ...


class Redactor:
    """Remembers every secret value handed out and scrubs it, in each of its encodings, from
    whatever is recorded."""

    def __init__(self) -> None:
        self._values: list[str] = []
        self._escaped: re.Pattern[bytes] | None = None
        """Any known value as it shows inside a JSON string, UTF-8 encoded: one search
        instead of one per value."""
        self._learned: set[str] = set()
        """Revisions of the flows whose secrets were registered."""

    def add(self, value: str) -> None:
        if len(value) < MIN_REDACTED_LENGTH or value in self._values:
            return
        known = set(self._values) | encodings(value)
        self._values = sorted(known, key=len, reverse=True)  # longest first: overlaps
        escaped = (json.dumps(v, ensure_ascii=False)[1:-1].encode() for v in self._values)
        self._escaped = re.compile(b"|".join(re.escape(e) for e in escaped))

    def learn(self, revision: str, refs: Iterable[SecretRef], resolver: Resolver) -> None:
        """Register every secret a flow revision reads before its first execution records
        anything, so that a trigger payload echoing one is scrubbed too. Secrets that cannot be
        resolved yet are skipped: the node that needs one fails with the reason."""
        if revision in self._learned:
            return
        self._learned.add(revision)
        for ref in refs:
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
        as its own escaped form in the text (orjson escapes every character as
        ``json.dumps(ensure_ascii=False)`` does; tests/runner/test_secrets.py checks it)."""
        try:
            text = orjson.dumps(value, default=_refuse, option=orjson.OPT_NON_STR_KEYS)
        except TypeError:
            return True  # bytes, other non-JSON values, lone surrogates: walk it
        assert self._escaped is not None  # set with the first value
        return self._escaped.search(text) is not None

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


def _refuse(value: Any) -> Any:
    raise TypeError(type(value).__name__)
