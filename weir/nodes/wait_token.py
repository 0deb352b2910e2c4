"""Resume tokens of a person's wait: ``w1.<wait id>.<secret>``.

The secret is 256 random bits (urlsafe base64); only its sha256 is stored with the wait, and a
presented token is checked against that hash in constant time. The ``w1`` prefix versions the
format: a future format gets a new prefix and this one keeps being accepted, so that changing
the checks never breaks the links of waits already pending (n8n #18610).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

VERSION = "w1"
_SHAPE = re.compile(r"^(w1)\.([0-9A-Za-z]{26})\.([A-Za-z0-9_-]{43})$")


class BadToken(ValueError):
    """Not a resume token this runner knows (malformed, or an unknown version)."""


@dataclass(frozen=True, slots=True)
class Token:
    version: str
    wait_id: str
    secret: str

    @property
    def hash(self) -> str:
        return secret_hash(self.secret)

    def __str__(self) -> str:
        return f"{self.version}.{self.wait_id}.{self.secret}"


def new_token(wait_id: str) -> Token:
    return Token(VERSION, wait_id, secrets.token_urlsafe(32))


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_token(text: str) -> Token:
    """The token's parts; BadToken naming what is wrong (never echoing the secret)."""
    found = _SHAPE.match(text.strip())
    if found is None:
        version = text.split(".", 1)[0]
        if "." in text and version != VERSION and len(version) <= 4:
            raise BadToken(f"resume token version {version!r} is not known here (known: w1)")
        raise BadToken("not a resume token: expected w1.<wait id>.<secret>")
    return Token(*found.groups())


def matches(token: Token, stored_hash: str | None) -> bool:
    """Whether ``token``'s secret is the one whose hash was stored (constant time)."""
    return stored_hash is not None and hmac.compare_digest(token.hash, stored_hash)


_IN_TEXT = re.compile(r"\b(w1\.[0-9A-Za-z]{26})\.[A-Za-z0-9_-]{43}")


def without_secrets(value: Any) -> Any:
    """``value`` with the secret of every resume token in it replaced by ``…``: what the
    console shows of recorded payloads, so that reading an execution is no leave to resume it
    (resuming through the console checks its own permission)."""
    if isinstance(value, str):
        return _IN_TEXT.sub(r"\1.…", value) if "w1." in value else value
    if isinstance(value, dict):
        return {key: without_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_secrets(item) for item in value]
    return value
