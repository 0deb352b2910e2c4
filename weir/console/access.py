"""Who may do what through the console's API (docs/console-access.md).

Every handler asks its `Access` before it reads or acts: `require` for one namespace (raising a
401 or 403 problem), `namespaces` for a list across namespaces (the set to filter by in SQL, or
None when the caller may read them all). Permissions are Kubernetes RBAC on the Flow's namespace:

=============================================  =====================================
API call                                       permission (group weir.dev)
=============================================  =====================================
read flows, executions, node records, events   ``READ``   = get flows
replay, cancel, start a run                    ``RUN``    = create flowruns
runner: ingest, cancellations (per flow name)  ``SHIP``   = patch flows/status
=============================================  =====================================

A cross-namespace list is one SubjectAccessReview with namespace "" (allowed everywhere: no
filter), else one per namespace, the allowed set then filtered in SQL.

``SHIP`` is the permission every runner's ServiceAccount already holds (the operator's Role
lets it patch its own Flow's status, by name), so a runner can ship only its own flow's
executions, and no user role needs a new rule for it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import NamedTuple, Protocol

from aiohttp import web

from weir.console.problems import CONTENT_TYPE, problem_response
from weir.kube.access import TTL, Reviews, ReviewUnavailable, User
from weir.kube.client import Kube


class Permission(NamedTuple):
    verb: str
    resource: str


GROUP = "weir.dev"
READ = Permission("get", "flows")
RUN = Permission("create", "flowruns")
SHIP = Permission("patch", "flows/status")


class Access(Protocol):
    async def require(
        self,
        request: web.Request,
        verb: str,
        resource: str,
        *,
        namespace: str,
        name: str | None = None,
    ) -> None:
        """Return when the caller may `verb` the `resource` (group weir.dev) in `namespace`
        (an object `name` when the rule is per object); raise a 401 or 403 problem otherwise."""
        ...

    async def namespaces(
        self, request: web.Request, verb: str, resource: str
    ) -> frozenset[str] | None:
        """The namespaces where the caller may `verb` the `resource`; None when everywhere.
        Raises a 401 problem for a caller who is not authenticated."""
        ...


class OpenAccess:
    """Everything allowed: local mode, a console on a laptop bound to loopback."""

    async def require(
        self,
        request: web.Request,
        verb: str,
        resource: str,
        *,
        namespace: str,
        name: str | None = None,
    ) -> None:
        return None

    async def namespaces(
        self, request: web.Request, verb: str, resource: str
    ) -> frozenset[str] | None:
        return None


def from_loopback(request: web.Request) -> bool:
    """Whether the peer is this machine (127.0.0.0/8, ::1). A request through a proxy on the
    same machine is from loopback too: put no proxy in front of a console that trusts it."""
    peer = request.remote
    if not peer:
        return False  # a Unix socket or an unknown transport: not known to be local
    try:
        return ipaddress.ip_address(peer.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


TOKEN_COOKIE = "weir_token"
"""The browser's EventSource cannot set headers, so the UI puts its token in this cookie; it is
taken for GET only, so a cross-site form cannot replay, cancel or run with it."""
USER_KEY = web.RequestKey("weir.user", str)
"""The request key under which the authenticated user's name is left, for logs and audit."""


class KubernetesAccess:
    """Bearer tokens reviewed by the cluster's API server (TokenReview), each call authorized
    there (SubjectAccessReview). Without a token, only a loopback peer, and only when
    `allow_loopback_unauthenticated`, is let in (with everything allowed, as in local mode).

    `scope`: the namespaces the console serves, when its ServiceAccount may not list the
    cluster's; by default every namespace is a candidate for a cross-namespace list.
    """

    def __init__(
        self,
        client: Kube,
        *,
        allow_loopback_unauthenticated: bool = False,
        scope: Sequence[str] | None = None,
        ttl: float = TTL,
        audiences: Sequence[str] = (),
    ) -> None:
        self._reviews = Reviews(client, ttl=ttl, audiences=audiences)
        self._loopback = allow_loopback_unauthenticated
        self._scope = tuple(scope) if scope is not None else None

    async def require(
        self,
        request: web.Request,
        verb: str,
        resource: str,
        *,
        namespace: str,
        name: str | None = None,
    ) -> None:
        user = await self._user(request)
        if user is None:
            return
        if not await self._allowed(user, verb, resource, namespace, name):
            where = f"in namespace {namespace!r}" if namespace else "in every namespace"
            what = f"{resource} {name!r}" if name else resource
            raise problem(
                web.HTTPForbidden,
                f"{user.username} may not {verb} {what} ({GROUP}) {where}",
            )

    async def namespaces(
        self, request: web.Request, verb: str, resource: str
    ) -> frozenset[str] | None:
        user = await self._user(request)
        if user is None or await self._allowed(user, verb, resource, "", None):
            return None
        try:
            candidates = self._scope or await self._reviews.namespaces()
            return await self._reviews.allowed_namespaces(
                user, candidates, verb=verb, group=GROUP, resource=resource
            )
        except ReviewUnavailable as exc:
            raise unavailable(exc) from None

    async def _user(self, request: web.Request) -> User | None:
        """The caller, or None for an unauthenticated loopback caller let in."""
        token = bearer_token(request)
        if token is None:
            if self._loopback and from_loopback(request):
                return None
            raise unauthorized("a bearer token is required (Authorization: Bearer TOKEN)")
        try:
            authentication = await self._reviews.authenticate(token)
        except ReviewUnavailable as exc:
            raise unavailable(exc) from None
        if authentication.user is None:
            raise unauthorized(
                f"the token was not accepted: {authentication.error}", invalid_token=True
            )
        request[USER_KEY] = authentication.user.username
        return authentication.user

    async def _allowed(
        self, user: User, verb: str, resource: str, namespace: str, name: str | None
    ) -> bool:
        try:
            return await self._reviews.allowed(
                user, verb=verb, group=GROUP, resource=resource, namespace=namespace, name=name
            )
        except ReviewUnavailable as exc:
            raise unavailable(exc) from None


def bearer_token(request: web.Request) -> str | None:
    """The token from `Authorization: Bearer`, else (GET only) from the weir_token cookie."""
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized("only bearer tokens are accepted (Authorization: Bearer TOKEN)")
        return token.strip()
    if request.method in ("GET", "HEAD"):
        return request.cookies.get(TOKEN_COOKIE) or None
    return None


def problem(
    kind: type[web.HTTPException], detail: str, *, headers: dict[str, str] | None = None
) -> web.HTTPException:
    """An aiohttp HTTP error whose body is application/problem+json (RFC 9457): raised, not
    returned, it carries its headers (WWW-Authenticate, Retry-After) through the middleware."""
    text = problem_response(kind.status_code, detail).text
    return kind(text=text, content_type=CONTENT_TYPE, headers=headers)


def unauthorized(detail: str, *, invalid_token: bool = False) -> web.HTTPException:
    challenge = 'Bearer realm="weir"' + (', error="invalid_token"' if invalid_token else "")
    return problem(web.HTTPUnauthorized, detail, headers={"WWW-Authenticate": challenge})


def unavailable(exc: ReviewUnavailable) -> web.HTTPException:
    return problem(web.HTTPServiceUnavailable, str(exc), headers={"Retry-After": "5"})
