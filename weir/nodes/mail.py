"""`mail`: send a message over SMTP (aiosmtplib) or receive messages over IMAP (imaplib).

Attachments to send are file references, bytes or text; a file reference is read into the
message up to ``maxAttachmentSize``. Received attachments are spooled to disk and passed on as
file references. Each node does exactly one operation: ``send`` or ``receive``.
"""

from __future__ import annotations

import datetime as dt
import re
import ssl
from typing import Any, Literal

from pydantic import Field, model_validator

from weir.lang.durations import Duration
from weir.lang.errors import ConfigError
from weir.lang.expressions import Text, Value
from weir.lang.types import ByteSize, SecretOrText, SecretRef, Strict
from weir.nodes.connections import peek
from weir.nodes.context import NodeContext
from weir.nodes.kind import NodeKind

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class TlsOptions(Strict):
    caCert: SecretOrText | None = Field(
        None,
        description="PEM certificate(s) to trust instead of the system store "
        "(e.g. a private CA or a self-signed server certificate).",
    )
    insecureSkipVerify: bool = Field(
        False,
        description="Accept any server certificate. Development only: anyone on the network "
        "path can read the password and the mail. Logs a warning on every run.",
    )


class SmtpServer(TlsOptions):
    host: Text = Field(description="SMTP server host name or address.")
    port: int | None = Field(
        None, ge=1, le=65535, description="Port; default 465 for tls, 587 for starttls, 25."
    )
    security: Literal["starttls", "tls", "none"] = Field(
        "starttls",
        description="starttls: upgrade a plain connection (required, never skipped); "
        "tls: TLS from the start (SMTPS); none: no encryption.",
    )
    username: SecretOrText | None = Field(None, description="User to log in as (AUTH).")
    password: SecretRef | None = Field(None, description="Password, from a secret.")
    timeout: Duration = Field(
        "30s", validate_default=True, description="Limit for connecting and each server answer."
    )

    @model_validator(mode="after")
    def _login(self) -> SmtpServer:
        if (self.username is None) != (self.password is None):
            raise ValueError("smtp needs both username and password, or neither")
        return self

    @property
    def default_port(self) -> int:
        return {"tls": 465, "starttls": 587, "none": 25}[self.security]


class ImapServer(TlsOptions):
    host: Text = Field(description="IMAP server host name or address.")
    port: int | None = Field(
        None, ge=1, le=65535, description="Port; default 993 for tls, else 143."
    )
    security: Literal["tls", "starttls", "none"] = Field(
        "tls",
        description="tls: TLS from the start (IMAPS); starttls: upgrade a plain connection; "
        "none: no encryption.",
    )
    username: SecretOrText = Field(description="User to log in as.")
    password: SecretRef = Field(description="Password, from a secret.")
    timeout: Duration = Field(
        "30s", validate_default=True, description="Limit for connecting and each server answer."
    )

    @property
    def default_port(self) -> int:
        return 993 if self.security == "tls" else 143


class Attachment(Strict):
    content: Value = Field(description="A file reference from another node, bytes or text (UTF-8).")
    filename: Text | None = Field(
        None, description="Name shown to the recipient; default: the file reference's name."
    )
    contentType: Text | None = Field(
        None, description="MIME type; default: the file reference's, else guessed from the name."
    )


class MailSend(Strict):
    smtp: SmtpServer = Field(description="The SMTP server to hand the message to.")
    from_: Text = Field(alias="from", description='Sender: "a@example.com" or "Name <a@...>".')
    to: Value | None = Field(None, description="Recipients: a list or a comma-separated text.")
    cc: Value | None = Field(None, description="Copy recipients, like `to`.")
    bcc: Value | None = Field(
        None, description="Hidden recipients, like `to` (never written in the headers)."
    )
    replyTo: Text | None = Field(None, description="Reply-To header.")
    subject: Text = Field(description="Subject (template).")
    text: Text | None = Field(None, description="Plain text body (template).")
    html: Text | None = Field(None, description="HTML body (template).")
    attachments: list[Attachment] = Field(default_factory=list, description="Files to attach.")
    headers: dict[str, Text] = Field(default_factory=dict, description="Extra headers.")
    maxAttachmentSize: ByteSize = Field(
        "25Mi", validate_default=True, description="Largest attachment accepted, in bytes."
    )
    allowPartialDelivery: bool = Field(
        False,
        description="Send to the recipients the server accepts even when it refuses others "
        "(they are listed in the output's `rejected`); by default any refusal fails the "
        "node before the message is sent.",
    )

    @model_validator(mode="after")
    def _body(self) -> MailSend:
        if self.text is None and self.html is None:
            raise ValueError("mail send needs text, html or both")
        if self.to is None and self.cc is None and self.bcc is None:
            raise ValueError("mail send needs at least one recipient in to, cc or bcc")
        return self


class MailSearch(Strict):
    unseen: bool | None = Field(
        None, description="true: only unread messages; false: only read ones."
    )
    from_: Text | None = Field(None, alias="from", description="From contains this text.")
    to: Text | None = Field(None, description="To contains this text.")
    subject: Text | None = Field(None, description="Subject contains this text.")
    body: Text | None = Field(None, description="Body contains this text.")
    since: Text | None = Field(
        None, description="Received on or after this date (YYYY-MM-DD or ISO date-time)."
    )
    before: Text | None = Field(None, description="Received before this date.")
    raw: Text | None = Field(
        None, description='IMAP SEARCH criteria as written, e.g. "OR FROM a@x FROM b@x".'
    )


class MailReceive(Strict):
    imap: ImapServer = Field(description="The IMAP server and mailbox login.")
    folder: Text = Field("INBOX", validate_default=True, description="Folder (mailbox) to search.")
    search: MailSearch | None = Field(
        None, description="Which messages (all criteria must match); default: all."
    )
    limit: int = Field(50, ge=1, le=10000, description="At most this many messages, oldest first.")
    attachments: bool = Field(
        True, description="Spool attachments to disk as file references (false: list them only)."
    )
    maxMessageSize: ByteSize = Field(
        "50Mi",
        validate_default=True,
        description="Larger messages fail the node (they are fetched whole).",
    )
    markSeen: bool = Field(False, description="Flag the returned messages as read.")
    moveTo: Text | None = Field(None, description="Move the returned messages to this folder.")


class MailConfig(Strict):
    send: MailSend | None = Field(None, description="Send one message over SMTP.")
    receive: MailReceive | None = Field(None, description="Fetch messages over IMAP.")

    @model_validator(mode="after")
    def _one(self) -> MailConfig:
        chosen = [name for name in ("send", "receive") if getattr(self, name) is not None]
        if len(chosen) != 1:
            found = ", ".join(chosen) if chosen else "none"
            raise ValueError(f"mail takes exactly one operation (send, receive), found {found}")
        return self


def tls_context(options: TlsOptions, ctx: NodeContext, address: str) -> ssl.SSLContext:
    if options.insecureSkipVerify:
        ctx.log.warning(
            "mail %s: TLS certificate NOT checked (insecureSkipVerify); development only",
            address,
        )
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if options.caCert is not None:
        return ssl.create_default_context(cadata=ctx.reveal(options.caCert))
    return ssl.create_default_context()


def parse_date(text: str, field: str) -> dt.date:
    value = text.strip()
    try:
        if _DATE.match(value):
            return dt.date.fromisoformat(value)
        return dt.datetime.fromisoformat(value).date()
    except ValueError:
        raise ConfigError(
            f"search.{field}: expected a date like 2024-05-31, got {text!r}"
        ) from None


async def run(config: MailConfig, ctx: NodeContext) -> Any:
    if config.send is not None:
        from weir.nodes import mail_smtp

        return await mail_smtp.send(config.send, ctx)
    assert config.receive is not None
    from weir.nodes import mail_imap

    return await mail_imap.receive(config.receive, ctx)


def connection(config: MailConfig, ctx: NodeContext) -> str | None:
    """The SMTP or IMAP server: its circuit breaker's key."""
    if config.send is not None:
        smtp = config.send.smtp
        return f"smtp://{peek(smtp.host, ctx)}:{smtp.port or smtp.default_port}"
    assert config.receive is not None
    imap = config.receive.imap
    return f"imap://{peek(imap.host, ctx)}:{imap.port or imap.default_port}"


KIND = NodeKind(
    "mail",
    MailConfig,
    run,
    "Send a message over SMTP, or receive messages (and attachments) over IMAP.",
    connection,
)
