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

``SHIP`` is the permission every runner's ServiceAccount already holds (the operator's Role
lets it patch its own Flow's status, by name), so a runner can ship only its own flow's
executions, and no user role needs a new rule for it.
"""

from __future__ import annotations

import ipaddress
from typing import NamedTuple, Protocol

from aiohttp import web


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
