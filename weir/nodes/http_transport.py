"""The http node's client: an httpx client whose connections the egress policy checks.

Its own module, imported when a request is made: httpx (and, when installed, the command-line
packages its ``__init__`` pulls in) costs more than validating a flow."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from weir.nodes.http_egress import EgressDenied, EgressPolicy, _address, _tcp_addresses

LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=50)


def new_client(verify: bool, policy: EgressPolicy) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=GuardedTransport(verify, policy))


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with a connection pool whose connections the policy checks."""

    def __init__(self, verify: bool, policy: EgressPolicy) -> None:
        super().__init__(verify=verify, limits=LIMITS)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify),
            max_connections=LIMITS.max_connections,
            max_keepalive_connections=LIMITS.max_keepalive_connections,
            keepalive_expiry=LIMITS.keepalive_expiry,
            network_backend=GuardedBackend(policy),
        )


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses the policy allows."""

    def __init__(self, policy: EgressPolicy) -> None:
        self.policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._resolve(host, port, timeout)
        for address in addresses:
            reason = self.policy.check(address)
            if reason is not None:
                shown = host if host == address else f"{host} ({address})"
                raise EgressDenied(
                    f"connecting to {shown} is refused by the egress policy: {reason}"
                )
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:  # the next address, as a resolver's list
                failure = exc
        assert failure is not None
        raise failure

    async def _resolve(self, host: str, port: int, timeout: float | None) -> list[str]:
        host = host.strip("[]")
        try:
            _address(host)
        except ValueError:
            pass
        else:
            return [host]
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
        addresses = _tcp_addresses(infos)
        if not addresses:
            raise httpcore.ConnectError(f"{host} has no IPv4 or IPv6 address")
        return addresses

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return await self._inner.connect_unix_socket(path, timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
