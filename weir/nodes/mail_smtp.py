"""The `mail` node's send operation: build a MIME message and hand it to an SMTP server.

Recipients are offered one by one (RCPT) before any content is sent: unless partial delivery is
allowed, one refusal resets the transaction and fails the node, so nobody gets the message.
"""

from __future__ import annotations

import asyncio
import mimetypes
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, getaddresses, make_msgid
from typing import Any

from weir.lang.errors import AuthFailed, ConfigError, ConnectionFailed, NodeError
from weir.nodes.context import NodeContext
from weir.nodes.mail import MailSend, tls_context
from weir.nodes.spool import content_size, is_file_ref, open_content


@dataclass
class _Attachment:
    content: Any
    filename: str
    content_type: str


def addresses(value: Any, field: str) -> list[str]:
    """Recipients from a list (of texts) or a comma-separated text, as ``Name <addr>`` texts."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    found: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ConfigError(f"{field}: expected addresses as text, got {type(item).__name__}")
        for name, address in getaddresses([item]):
            if not address:
                continue
            if "@" not in address or any(c.isspace() for c in address):
                raise ConfigError(f"{field}: {address!r} is not an e-mail address")
            found.append(str(Address(display_name=name, addr_spec=address)) if name else address)
    return found


def bare(address: str) -> str:
    return getaddresses([address])[0][1]


def _attachments(config: MailSend, ctx: NodeContext) -> list[_Attachment]:
    result = []
    for index, spec in enumerate(config.attachments):
        content = ctx.eval(spec.content)
        reference = is_file_ref(content)
        if not (reference or isinstance(content, str | bytes | bytearray)):
            raise ConfigError(
                f"attachments[{index}].content: expected a file reference, bytes or text, "
                f"got {type(content).__name__}"
            )
        name = ctx.text(spec.filename) if spec.filename is not None else ""
        if not name:
            name = str(content.get("name") or "") if reference else ""
        if not name:
            name = f"attachment-{index + 1}" + (".txt" if isinstance(content, str) else ".bin")
        content_type = ctx.text(spec.contentType) if spec.contentType is not None else ""
        if not content_type and reference:
            content_type = str(content.get("contentType") or "")
        if not content_type:
            content_type = mimetypes.guess_type(name)[0] or (
                "text/plain" if isinstance(content, str) else "application/octet-stream"
            )
        if "/" not in content_type:
            raise ConfigError(f"attachments[{index}]: invalid content type {content_type!r}")
        size = content_size(content) if not reference else _file_size(content)
        if size > config.maxAttachmentSize:
            raise ConfigError(
                f"attachment {name!r} is {size} bytes, more than maxAttachmentSize "
                f"({config.maxAttachmentSize} bytes)"
            )
        result.append(_Attachment(content, name, content_type))
    return result


def _file_size(reference: dict[str, Any]) -> int:
    try:
        return content_size(reference)
    except FileNotFoundError:
        raise ConfigError(
            f"file {reference.get('name')!r} is no longer available (spooled files live only "
            "during the execution that fetched them)"
        ) from None


def _build(
    headers: dict[str, str],
    text: str | None,
    html: str | None,
    files: list[_Attachment],
    limit: int,
) -> bytes:
    """The message as bytes (blocking: reads the attachments; run in a worker thread)."""
    message = EmailMessage(policy=SMTP)
    for name, value in headers.items():
        message[name] = value
    if text is not None:
        message.set_content(text)
    if html is not None:
        if text is None:
            message.set_content(html, subtype="html")
        else:
            message.add_alternative(html, subtype="html")
    for item in files:
        with open_content(item.content) as stream:
            data = stream.read(limit + 1)
        if len(data) > limit:  # the file grew since its size was checked
            raise ConfigError(f"attachment {item.filename!r} is larger than maxAttachmentSize")
        maintype, _, subtype = item.content_type.partition("/")
        if maintype == "text":
            message.add_attachment(
                data.decode("utf-8", errors="replace"), subtype=subtype, filename=item.filename
            )
        else:
            message.add_attachment(data, maintype=maintype, subtype=subtype, filename=item.filename)
    return message.as_bytes()


def _server_answer(exc: Any) -> str:
    return f"{exc.code} {exc.message}".strip()


async def send(config: MailSend, ctx: NodeContext) -> dict[str, Any]:
    smtp = config.smtp
    host, port = ctx.text(smtp.host), smtp.port or smtp.default_port
    sender = ctx.text(config.from_)
    if "@" not in bare(sender):
        raise ConfigError(f"from: {sender!r} is not an e-mail address")
    to = addresses(ctx.eval(config.to), "to")
    cc = addresses(ctx.eval(config.cc), "cc")
    bcc = addresses(ctx.eval(config.bcc), "bcc")
    recipients = list(dict.fromkeys(bare(a) for a in [*to, *cc, *bcc]))
    if not recipients:
        raise ConfigError("mail send: no recipient after evaluating to, cc and bcc")
    message_id = make_msgid(domain=bare(sender).rpartition("@")[2] or None)
    headers = _headers(config, ctx, sender, to, cc, message_id)
    text = ctx.text(config.text) if config.text is not None else None
    html = ctx.text(config.html) if config.html is not None else None
    files = _attachments(config, ctx)
    try:
        data = await asyncio.to_thread(_build, headers, text, html, files, config.maxAttachmentSize)
    except (ValueError, TypeError) as exc:  # a header the email package cannot write
        raise ConfigError(f"cannot build the message: {exc}") from None
    accepted, rejected = await _deliver(config, ctx, host, port, sender, recipients, data)
    result: dict[str, Any] = {"messageId": message_id, "accepted": accepted, "size": len(data)}
    if rejected:
        result["rejected"] = rejected
    return result


def _headers(
    config: MailSend,
    ctx: NodeContext,
    sender: str,
    to: list[str],
    cc: list[str],
    message_id: str,
) -> dict[str, str]:
    headers = {"From": sender, "Subject": ctx.text(config.subject)}
    if to:
        headers["To"] = ", ".join(to)
    if cc:
        headers["Cc"] = ", ".join(cc)
    if config.replyTo is not None:
        headers["Reply-To"] = ctx.text(config.replyTo)
    headers["Date"] = formatdate(localtime=False, usegmt=True)
    headers["Message-ID"] = message_id
    for name, value in config.headers.items():
        headers[name] = ctx.text(value)
    return headers


async def _deliver(
    config: MailSend,
    ctx: NodeContext,
    host: str,
    port: int,
    sender: str,
    recipients: list[str],
    data: bytes,
) -> tuple[list[str], dict[str, str]]:
    """Connect, log in and hand the message over; the recipients accepted and refused."""
    import aiosmtplib

    smtp = config.smtp
    address = f"{host}:{port}"
    username = ctx.reveal(smtp.username) if smtp.username is not None else None
    password = ctx.reveal(smtp.password) if smtp.password is not None else None
    client = aiosmtplib.SMTP(
        hostname=host,
        port=port,
        username=username,
        password=password,
        use_tls=smtp.security == "tls",
        start_tls=smtp.security == "starttls",
        tls_context=tls_context(smtp, ctx, address) if smtp.security != "none" else None,
        timeout=smtp.timeout,
    )
    try:
        await client.connect()
        try:
            return await _transaction(client, config, address, sender, recipients, data)
        finally:
            if client.is_connected:
                try:
                    await client.quit()
                except aiosmtplib.SMTPException:
                    client.close()
    except NodeError:
        raise
    except (aiosmtplib.SMTPException, OSError) as exc:  # OSError includes ssl's errors
        raise _failure(exc, address, sender, username, password) from None


async def _transaction(
    client: Any,
    config: MailSend,
    address: str,
    sender: str,
    recipients: list[str],
    data: bytes,
) -> tuple[list[str], dict[str, str]]:
    """MAIL, one RCPT per recipient, then DATA, unless a refusal means nothing is sent."""
    import aiosmtplib

    rejected: dict[str, str] = {}
    accepted: list[str] = []
    options = _mail_options(client, sender, recipients)
    encoding = "utf-8" if "SMTPUTF8" in options else "ascii"
    await client.mail(bare(sender), options=options, encoding=encoding)
    for recipient in recipients:
        try:
            await client.rcpt(recipient, encoding=encoding)
        except aiosmtplib.SMTPRecipientRefused as exc:
            rejected[recipient] = _server_answer(exc)
        else:
            accepted.append(recipient)
    if rejected and (not config.allowPartialDelivery or not accepted):
        await client.rset()
        refused = "; ".join(f"{r}: {answer}" for r, answer in rejected.items())
        raise NodeError(
            f"{address} refused recipient(s), nothing was sent: {refused}",
            type="mail",
            details={"rejected": rejected},
        )
    await client.data(data)
    return accepted, rejected


def _failure(
    exc: Exception, address: str, sender: str, username: str | None, password: str | None
) -> NodeError:
    """The node error for what aiosmtplib or the socket raised; the password never shows."""
    import aiosmtplib

    def scrub(text: str) -> str:
        return text.replace(password, "***") if password else text

    temporary = isinstance(exc, aiosmtplib.SMTPResponseException) and 400 <= exc.code < 500
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return AuthFailed(
            f"{address} refused the login of {username!r}: {scrub(_server_answer(exc))}"
        )
    if isinstance(exc, aiosmtplib.SMTPSenderRefused):
        return NodeError(
            f"{address} refused the sender {bare(sender)!r}: {_server_answer(exc)}",
            type="mail",
            retryable=temporary,
        )
    if isinstance(exc, aiosmtplib.SMTPDataError):
        return NodeError(
            f"{address} refused the message: {_server_answer(exc)}",
            type="mail",
            retryable=temporary,
        )
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return ConfigError(f"{address}: {scrub(str(exc))}")
    if isinstance(exc, ssl_errors()):
        return NodeError(f"TLS with {address} failed: {exc}", type="tls")
    # Timeouts are OSErrors too (TimeoutError), so they are reported here.
    if isinstance(exc, aiosmtplib.SMTPConnectError | aiosmtplib.SMTPServerDisconnected | OSError):
        cause = exc.__cause__ if isinstance(exc.__cause__, ssl_errors()) else None
        if cause is not None:
            return NodeError(f"TLS with {address} failed: {cause}", type="tls")
        return ConnectionFailed(f"cannot reach SMTP server {address}: {scrub(str(exc))}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return NodeError(
            f"{address} answered {scrub(_server_answer(exc))}", type="mail", retryable=temporary
        )
    return NodeError(f"SMTP with {address} failed: {scrub(str(exc))}", type="mail")


def ssl_errors() -> tuple[type[Exception], ...]:
    import ssl

    return (ssl.SSLError, ssl.CertificateError)


def _mail_options(client: Any, sender: str, recipients: list[str]) -> list[str]:
    options = []
    if client.supports_extension("8bitmime"):
        options.append("BODY=8BITMIME")
    if not all(a.isascii() for a in [sender, *recipients]):
        if not client.supports_extension("smtputf8"):
            raise ConfigError("an address is not ASCII and the server does not support SMTPUTF8")
        options.append("SMTPUTF8")
    return options
