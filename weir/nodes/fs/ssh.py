"""SSH connections for the `sftp` file system: keys, host key checking, channel reuse, errors.

Everything here blocks (paramiko is synchronous); the node calls it through
``asyncio.to_thread``. One SSH connection serves every execution that uses the same host, port,
user and credentials; its SFTP channels are reused and at most ``MAX_CHANNELS`` are open at once
(OpenSSH allows 10 sessions per connection by default).
"""

from __future__ import annotations

import io
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

from weir.lang.errors import AuthFailed, ConfigError, ConnectionFailed, NodeError
from weir.nodes.fs.base import common_error, digest

MAX_CHANNELS = 8


@dataclass(frozen=True)
class SshSettings:
    host: str
    port: int
    username: str
    password: str | None
    private_key: str | None
    passphrase: str | None
    known_hosts: str | None
    insecure: bool
    timeout: float

    @property
    def address(self) -> str:
        """The host as OpenSSH writes it in known_hosts: ``[host]:port`` unless port 22."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"

    def pool_key(self) -> tuple[str, str, int, str, str]:
        secrets = digest(
            self.password,
            self.private_key,
            self.passphrase,
            self.known_hosts,  # another host key: another connection
            self.insecure,
            self.timeout,
        )
        return ("sftp", self.host, self.port, self.username, secrets)


class UnknownHostKey(Exception):
    def __init__(self, address: str, key: Any) -> None:
        super().__init__(address)
        self.address = address
        self.key = key


def load_private_key(text: str, passphrase: str | None) -> Any:
    """A paramiko key from PEM or OpenSSH private key text (RSA, ECDSA or Ed25519)."""
    import paramiko
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    data = text.strip().encode("utf-8") + b"\n"
    password = passphrase.encode("utf-8") if passphrase else None
    try:
        try:
            loaded: Any = serialization.load_ssh_private_key(data, password=password)
        except ValueError:
            loaded = serialization.load_pem_private_key(data, password=password)
    except TypeError:
        if password is None:
            raise ConfigError("privateKey is encrypted: set passphrase") from None
        raise ConfigError("privateKey is not encrypted: remove passphrase") from None
    except (ValueError, paramiko.SSHException):
        hint = "the passphrase is wrong or " if password else ""
        raise ConfigError(
            f"privateKey cannot be read: {hint}it is not a PEM or OpenSSH private key"
        ) from None
    classes: list[tuple[type, Any]] = [
        (rsa.RSAPrivateKey, paramiko.RSAKey),
        (ed25519.Ed25519PrivateKey, paramiko.Ed25519Key),
        (ec.EllipticCurvePrivateKey, paramiko.ECDSAKey),
    ]
    for crypto_class, key_class in classes:
        if isinstance(loaded, crypto_class):
            return key_class.from_private_key(io.StringIO(data.decode()), password=passphrase)
    raise ConfigError(f"privateKey: unsupported key type {type(loaded).__name__}")


def load_known_hosts(host_keys: Any, text: str) -> None:
    """Add OpenSSH known_hosts lines (hashed names included) to a paramiko ``HostKeys``."""
    from paramiko.hostkeys import HostKeyEntry, InvalidHostKey

    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith(("#", "@")):  # @cert-authority/@revoked: not supported
            continue
        try:
            entry = HostKeyEntry.from_line(line, number)
        except (InvalidHostKey, ValueError):
            entry = None
        if entry is None or entry.key is None:
            raise ConfigError(f"knownHosts line {number} is not a known_hosts entry")
        for name in entry.hostnames:
            host_keys.add(name, entry.key.get_name(), entry.key)


class SshPool:
    """One SSH connection, reconnected when it drops, lending out reusable SFTP channels."""

    def __init__(self, settings: SshSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(MAX_CHANNELS)
        self._client: Any = None
        self._idle: list[Any] = []

    @contextmanager
    def sftp(self) -> Iterator[Any]:
        """An SFTP channel for one operation; a channel that failed is closed, not reused."""
        with self._slots:
            channel = self._take()
            try:
                yield channel
            except BaseException:
                self._discard(channel)
                raise
            with self._lock:
                self._idle.append(channel)

    def _take(self) -> Any:
        with self._lock:
            client = self._connected()
            while self._idle:
                channel = self._idle.pop()
                if not channel.sock.closed:
                    return channel
            channel = client.open_sftp()
        channel.get_channel().settimeout(self.settings.timeout)
        return channel

    def _connected(self) -> Any:
        transport = self._client.get_transport() if self._client is not None else None
        if transport is None or not transport.is_active():
            if self._client is not None:
                self._client.close()
            self._idle.clear()
            self._client = None
            self._client = connect(self.settings)
        return self._client

    def _discard(self, channel: Any) -> None:
        with suppress(Exception):  # already broken: nothing more to learn from it
            channel.close()

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
            self._client = None
            self._idle.clear()


def connect(settings: SshSettings) -> Any:
    import paramiko

    class RejectUnknown(paramiko.MissingHostKeyPolicy):
        def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
            raise UnknownHostKey(hostname, key)

    pkey = None
    if settings.private_key is not None:
        pkey = load_private_key(settings.private_key, settings.passphrase)
    client = paramiko.SSHClient()
    if settings.insecure:
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    else:
        load_known_hosts(client.get_host_keys(), settings.known_hosts or "")
        client.set_missing_host_key_policy(RejectUnknown())
    try:
        client.connect(
            settings.host,
            port=settings.port,
            username=settings.username,
            password=settings.password,
            pkey=pkey,
            timeout=settings.timeout,
            banner_timeout=settings.timeout,
            auth_timeout=settings.timeout,
            channel_timeout=settings.timeout,
            allow_agent=False,
            look_for_keys=False,
        )
    except BaseException:
        client.close()
        raise
    return client


def translate(exc: BaseException, settings: SshSettings, path: str | None = None) -> NodeError:
    """The node error for whatever paramiko, the socket or the SFTP server raised."""
    import paramiko

    where = f"{settings.address}" + (f" {path}" if path else "")
    who = f"{settings.username}@{settings.address}"
    if isinstance(exc, UnknownHostKey):
        return _host_key_error(
            f"host {exc.address} is not in knownHosts", exc.address, exc.key, settings
        )
    if isinstance(exc, paramiko.BadHostKeyException):
        return _host_key_error(
            f"host key of {exc.hostname} does not match knownHosts (the server's key changed, "
            "or something is intercepting the connection)",
            exc.hostname,
            exc.key,
            settings,
        )
    if isinstance(exc, paramiko.AuthenticationException):
        methods = getattr(exc, "allowed_types", None)
        hint = f"; the server accepts {', '.join(methods)}" if methods else ""
        return AuthFailed(f"{who}: authentication failed{hint}")
    common = common_error(exc, where, "sftp")
    if common is not None:
        return common
    if isinstance(exc, socket.timeout | TimeoutError):
        return ConnectionFailed(f"{who}: timed out after {settings.timeout:g}s")
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        reasons = sorted({str(e.strerror or e).lower() for e in exc.errors.values()})
        return ConnectionFailed(f"cannot connect to {settings.address}: {', '.join(reasons)}")
    if isinstance(exc, socket.gaierror):
        return ConnectionFailed(f"cannot resolve host {settings.host!r}")
    if isinstance(exc, ConnectionError | EOFError | paramiko.SSHException | paramiko.SFTPError):
        reason = str(exc) or type(exc).__name__
        return ConnectionFailed(f"{who}: connection failed: {reason}")
    if isinstance(exc, OSError) and exc.errno is None:
        # An SFTP status from the server (e.g. "Failure"): the request itself was refused.
        return NodeError(f"{where}: the server refused the request: {exc}", type="sftp")
    if isinstance(exc, OSError):
        return ConnectionFailed(f"{who}: {exc.strerror or exc}")
    return NodeError(f"{where}: {type(exc).__name__}: {exc}", type="sftp")


def _host_key_error(message: str, address: str, key: Any, settings: SshSettings) -> NodeError:
    fingerprint = key.fingerprint
    return NodeError(
        f"{message}; the server offered {key.get_name()} {fingerprint}. Add the server's key "
        f"to knownHosts (ssh-keyscan -p {settings.port} {settings.host}) after checking it",
        type="host_key",
        retryable=False,
        details={"host": address, "fingerprint": fingerprint},
    )
