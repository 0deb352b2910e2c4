"""An SMTP server on loopback (aiosmtpd) that keeps what it receives, and a self-signed certificate.

The server offers STARTTLS with a certificate for 127.0.0.1 and AUTH PLAIN/LOGIN for one user
(without TLS too); it refuses every recipient at ``refused.example``. A second server speaks
TLS from the start (SMTPS).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
import ssl
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

REFUSED_DOMAIN = "refused.example"


def smtp_available() -> bool:
    try:
        import aiosmtpd.controller  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class Certificate:
    cert_file: Path
    key_file: Path
    pem: str

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def self_signed(directory: Path, name: str = "server") -> Certificate:
    """A certificate for 127.0.0.1 and localhost, valid for a day."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "weir-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
    cert_file = directory / f"{name}.crt"
    key_file = directory / f"{name}.key"
    cert_file.write_text(pem)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_file.chmod(0o600)
    return Certificate(cert_file, key_file, pem)


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes
    authenticated: str | None
    tls: bool

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.data.replace(b"\r\n", b"\n"), policy=default_policy)
        assert isinstance(parsed, EmailMessage)
        return parsed


class _Handler:
    def __init__(self, inbox: list[Received]) -> None:
        self.inbox = inbox

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.lower().endswith("@" + REFUSED_DOMAIN):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        login = session.auth_data.login if session.authenticated and session.auth_data else None
        self.inbox.append(
            Received(
                sender=envelope.mail_from,
                recipients=list(envelope.rcpt_tos),
                data=envelope.original_content or envelope.content,
                authenticated=login.decode() if isinstance(login, bytes) else login,
                tls=server.transport.get_extra_info("ssl_object") is not None,
            )
        )
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    port: int
    tls_port: int
    username: str
    password: str
    certificate: Certificate
    inbox: list[Received] = field(default_factory=list)
    controllers: list[Any] = field(default_factory=list)

    host = "127.0.0.1"

    def stop(self) -> None:
        for controller in self.controllers:
            controller.stop()


def start_smtp(directory: Path) -> SmtpServer:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    from tests.servers.ports import free_port

    directory.mkdir(parents=True, exist_ok=True)
    certificate = self_signed(directory)
    username = "mailer"
    password = secrets.token_urlsafe(12)

    def authenticator(
        server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == username.encode()
            and auth_data.password == password.encode()
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    server = SmtpServer(free_port(), free_port(), username, password, certificate)
    handler = _Handler(server.inbox)
    common: dict[str, Any] = {
        "hostname": "127.0.0.1",
        "authenticator": authenticator,
        "auth_require_tls": False,
        "ready_timeout": 10,
    }
    plain = Controller(
        handler, port=server.port, tls_context=certificate.server_context(), **common
    )
    implicit = Controller(
        handler,
        port=server.tls_port,
        ssl_context=certificate.server_context(),
        **common,
    )
    for controller in (plain, implicit):
        controller.start()
        server.controllers.append(controller)
    return server
