"""Credentials for the HTTP triggers (REST, MCP): bearer token, basic, or an HMAC signature of
the body.

Every comparison is constant-time (``hmac.compare_digest``), and a failure never says which
part was wrong. Bearer and basic credentials are checked from the headers before the body is
read; an HMAC signature needs the body.

A secret the runner cannot read is the operator's problem, not the caller's: the runner is
unready (``/readyz`` says which secret), the log says how to provide it, and the caller gets a
503 that names nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
from collections.abc import Mapping

from weir.flow.triggers import HttpAuth
from weir.lang.errors import NodeError
from weir.lang.types import SecretRef
from weir.secrets.resolve import Secrets
from weir.triggers.rejection import Rejection


def unavailable() -> Rejection:
    """What a caller hears while the credentials cannot be checked: nothing about why."""
    return Rejection(
        503,
        "the service cannot check credentials right now; retry later",
        headers={"Retry-After": "5"},
    )


def needs_body(auth: HttpAuth) -> bool:
    return auth.hmac is not None


def secret_refs(auth: HttpAuth) -> list[SecretRef]:
    values = [
        auth.bearer,
        auth.basic.username if auth.basic else None,
        auth.basic.password if auth.basic else None,
        auth.hmac.secret if auth.hmac else None,
    ]
    return [value for value in values if isinstance(value, SecretRef)]


def credentials_problem(
    trigger: str, auth: HttpAuth | None, secrets: Secrets
) -> tuple[str, str] | None:
    """None when every secret the credentials need can be read; otherwise a reason fit for
    ``/readyz`` (which secret) and the full message for the log (how to provide it)."""
    for ref in secret_refs(auth) if auth is not None else []:
        try:
            secrets.reveal(ref)
        except NodeError as exc:
            return (
                f"the {trigger} trigger's credentials cannot be checked: secret "
                f"{ref.secret}/{ref.key} cannot be read (the runner's log says why)",
                exc.message,
            )
    return None


class CredentialsWatch:
    """Whether a trigger's credentials can be checked now, logging each change once: the full
    reason when it appears, and its end."""

    def __init__(self, trigger: str, log: logging.Logger) -> None:
        self.trigger = trigger
        self.log = log
        self._detail: str | None = None  # the log message last given for unreadable secrets

    def problem(self, auth: HttpAuth | None, secrets: Secrets) -> str | None:
        """Why the credentials cannot be checked now (for ``/readyz``), or None."""
        problem = credentials_problem(self.trigger, auth, secrets)
        detail = problem[1] if problem else None
        if detail != self._detail:
            if problem is not None:
                self.log.error("not ready: %s: %s", problem[0].split(":")[0], detail)
            else:
                self.log.info(
                    "the %s trigger's credentials can be checked again; ready", self.trigger
                )
            self._detail = detail
        return problem[0] if problem else None


def check_auth(
    auth: HttpAuth | None, headers: Mapping[str, str], body: bytes, secrets: Secrets
) -> None:
    """Refuse with 401 (and the scheme's ``WWW-Authenticate``) unless the request carries the
    credentials; ``headers`` must look names up case-insensitively."""
    if auth is None:
        return
    try:
        ok, challenge = _check(auth, headers, body, secrets)
    except NodeError:  # unreadable since the endpoint looked: still nothing for the caller
        raise unavailable() from None
    if not ok:
        raise Rejection(
            401,
            "missing or invalid credentials",
            headers={"WWW-Authenticate": challenge} if challenge else None,
        )


def _same(given: str | bytes, expected: str | bytes) -> bool:
    if isinstance(given, str):
        given = given.encode()
    if isinstance(expected, str):
        expected = expected.encode()
    return hmac.compare_digest(given, expected)


def _check(
    auth: HttpAuth, headers: Mapping[str, str], body: bytes, secrets: Secrets
) -> tuple[bool, str | None]:
    header = headers.get("Authorization", "")
    if auth.bearer is not None:
        scheme, _, token = header.partition(" ")
        expected = secrets.reveal(auth.bearer)
        return scheme.lower() == "bearer" and _same(token.strip(), expected), "Bearer"
    if auth.basic is not None:
        scheme, _, encoded = header.partition(" ")
        user = secrets.reveal(auth.basic.username)
        password = secrets.reveal(auth.basic.password)
        try:
            given_user, _, given_password = (
                base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
            )
        except (binascii.Error, UnicodeDecodeError):
            return False, 'Basic realm="weir"'
        # Both compared, always, so the time does not tell which one was wrong.
        same_user = _same(given_user, user)
        same_password = _same(given_password, password)
        return scheme.lower() == "basic" and same_user and same_password, 'Basic realm="weir"'
    assert auth.hmac is not None
    spec = auth.hmac
    given = headers.get(spec.header, "")
    if spec.prefix and not given.startswith(spec.prefix):
        return False, None
    key = secrets.reveal(spec.secret).encode()
    digest = hmac.new(key, body, getattr(hashlib, spec.algorithm)).hexdigest()
    return _same(given[len(spec.prefix) :].strip().lower(), digest), None
