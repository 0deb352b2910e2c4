"""The http node's egress policy: which networks a runner may connect to.

A runner-level setting, read from the environment when the node's client is made::

    WEIR_HTTP_DENY=loopback,private        # networks refused (CIDRs or group names)
    WEIR_HTTP_ALLOW=10.20.0.0/16           # exceptions: networks allowed

Link-local networks (169.254.0.0/16, fe80::/10, where clouds serve instance metadata and
credentials) and AWS's IPv6 metadata address are denied unless allowed. Loopback and private
networks are reachable unless denied: a laptop's local services and a cluster's own services
are what most flows talk to.

For each address the longest matching network decides; when an allowed and a denied network
are equally long, the address is denied (but an allowed network equal to a default-denied one
allows it); an address in no listed network is allowed. The check
runs where the connection is made, on every address a host name resolves to (a name with one
denied address is refused), and the connection goes to the checked address, so neither a
redirect nor a DNS answer that changes between check and connect gets around it. The check
itself is ``GuardedBackend`` in ``http_transport``, beside the rest of what needs httpx.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from weir.lang.errors import ConfigError, NodeError

ALLOW_ENV = "WEIR_HTTP_ALLOW"
DENY_ENV = "WEIR_HTTP_DENY"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

GROUPS: dict[str, tuple[str, ...]] = {
    "loopback": ("127.0.0.0/8", "::1/128", "0.0.0.0/8", "::/128"),  # 0.0.0.0 reaches this host
    "private": ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"),
    "link-local": ("169.254.0.0/16", "fe80::/10"),
    "metadata": ("169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128"),
    "all": ("0.0.0.0/0", "::/0"),
}
DEFAULT_DENY = GROUPS["metadata"]
"""Denied unless allowed: where cloud instance metadata (and its credentials) is served."""


class EgressDenied(NodeError):
    """A connection the egress policy refuses; not retryable (the policy will not change)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, type="egress", retryable=False)


@dataclass(frozen=True)
class _Rule:
    network: Network
    allow: bool
    origin: str  # "WEIR_HTTP_DENY", "WEIR_HTTP_ALLOW" or "default"


@dataclass(frozen=True)
class EgressPolicy:
    rules: tuple[_Rule, ...]

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> EgressPolicy:
        rules = [_Rule(ipaddress.ip_network(n), False, "default") for n in DEFAULT_DENY]
        rules += [_Rule(n, False, DENY_ENV) for n in _networks(environ.get(DENY_ENV), DENY_ENV)]
        rules += [_Rule(n, True, ALLOW_ENV) for n in _networks(environ.get(ALLOW_ENV), ALLOW_ENV)]
        return cls(tuple(rules))

    def check(self, address: str) -> str | None:
        """None when ``address`` may be reached, else why not (the network that refuses it)."""
        ip = _address(address)
        matching = [r for r in self.rules if ip.version == r.network.version and ip in r.network]
        best = max(matching, key=_rank, default=None)
        if best is None or best.allow:
            return None
        if best.origin == "default":
            return (
                f"{best.network} is denied by default (link-local: cloud instance metadata); "
                f"allow it with {ALLOW_ENV}={ip}/{ip.max_prefixlen} if this flow must reach it"
            )
        return f"{best.network} is denied by {DENY_ENV}; {ALLOW_ENV} can make an exception"


def _rank(rule: _Rule) -> tuple[int, int]:
    """The longest network wins; on a tie, WEIR_HTTP_DENY, then WEIR_HTTP_ALLOW, then the
    default (so that allowing exactly a default-denied network allows it)."""
    order = {DENY_ENV: 2, ALLOW_ENV: 1}.get(rule.origin, 0)
    return rule.network.prefixlen, order


def _networks(value: str | None, variable: str) -> list[Network]:
    found: list[Network] = []
    for entry in (value or "").split(","):
        entry = entry.strip()
        if not entry:
            continue
        if entry.lower() in GROUPS:
            found += [ipaddress.ip_network(n) for n in GROUPS[entry.lower()]]
            continue
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ConfigError(
                f"{variable}: {entry!r} is not a network: use CIDRs such as 10.0.0.0/8 or "
                f"fd00::/8, addresses, or {', '.join(GROUPS)}"
            ) from None
        found.append(_unmapped(network))
    return found


def _unmapped(network: Network) -> Network:
    """``::ffff:a.b.c.d/n`` as the IPv4 network it is (addresses are checked unmapped)."""
    if (
        isinstance(network, ipaddress.IPv6Network)
        and network.network_address.ipv4_mapped is not None
        and network.prefixlen >= 96
    ):
        base = network.network_address.ipv4_mapped
        return ipaddress.IPv4Network(f"{base}/{network.prefixlen - 96}", strict=False)
    return network


def _address(text: str) -> Address:
    ip = ipaddress.ip_address(text.split("%", 1)[0])  # an IPv6 scope (%eth0) is not the address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _tcp_addresses(infos: Iterable[Any]) -> list[str]:
    seen: list[str] = []
    for family, _type, _proto, _name, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6) and sockaddr[0] not in seen:
            seen.append(str(sockaddr[0]))
    return seen
