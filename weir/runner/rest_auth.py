"""Credentials for the REST trigger: bearer token, basic, or an HMAC signature of the body.

Every comparison is constant-time (``hmac.compare_digest``), and a failure never says which
part was wrong.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from aiohttp import web

from weir.flow.triggers import RestAuth
from weir.runner.errors import NodeError
from weir.runner.rejection import Rejection
from weir.runner.secrets import Secrets


def check_auth(auth: RestAuth | None, request: web.Request, body: bytes, secrets: Secrets) -> None:
    if auth is None:
        return
    try:
        ok, challenge = _check(auth, request, body, secrets)
    except (
        NodeError
    ) as exc:  # a secret the runner cannot read: the operator's problem, not the caller's
        raise Rejection(500, f"credentials cannot be checked: {exc.message}") from None
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
    auth: RestAuth, request: web.Request, body: bytes, secrets: Secrets
) -> tuple[bool, str | None]:
    header = request.headers.get("Authorization", "")
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
    given = request.headers.get(spec.header, "")
    if spec.prefix and not given.startswith(spec.prefix):
        return False, None
    key = secrets.reveal(spec.secret).encode()
    digest = hmac.new(key, body, getattr(hashlib, spec.algorithm)).hexdigest()
    return _same(given[len(spec.prefix) :].strip().lower(), digest), None
