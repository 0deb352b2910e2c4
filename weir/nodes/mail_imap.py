"""The `mail` node's receive operation: search an IMAP folder, fetch, parse and spool messages.

imaplib is blocking: each exchange with the server runs in a worker thread, one message at a
time, so that a message's attachments are written to the spool before the next one is fetched.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import email
import imaplib
import re
import socket
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from email.policy import default as default_policy
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path
from typing import Any

from weir.lang.errors import AuthFailed, ConfigError, ConnectionFailed, NodeError, NotFound
from weir.nodes.context import NodeContext
from weir.nodes.mail import MailReceive, MailSearch, parse_date, tls_context
from weir.nodes.spool import file_ref

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_SIZE = re.compile(rb"UID (\d+).*?RFC822\.SIZE (\d+)|RFC822\.SIZE (\d+).*?UID (\d+)")
_FLAGS = re.compile(rb"FLAGS \(([^)]*)\)")


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def mailbox_name(name: str) -> str:
    """A folder name in IMAP's modified UTF-7 (RFC 3501 5.1.3), quoted."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            encoded = base64.b64encode("".join(pending).encode("utf-16-be")).decode("ascii")
            out.append("&" + encoded.rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return quote("".join(out))


def _imap_date(value: dt.date) -> str:
    return f"{value.day:02d}-{_MONTHS[value.month - 1]}-{value.year}"


@dataclass
class Criteria:
    tokens: list[str]
    literal: bytes | None = None
    """One non-ASCII value, sent last as a literal after ``CHARSET UTF-8``."""

    def arguments(self) -> list[str]:
        if self.literal is not None:
            return ["CHARSET", "UTF-8", *self.tokens]
        return self.tokens or ["ALL"]


def criteria(search: MailSearch, ctx: NodeContext) -> Criteria:
    tokens: list[str] = []
    literal: tuple[str, bytes] | None = None
    if search.unseen is not None:
        tokens.append("UNSEEN" if search.unseen else "SEEN")
    for key, expr in (
        ("FROM", search.from_),
        ("TO", search.to),
        ("SUBJECT", search.subject),
        ("BODY", search.body),
    ):
        if expr is None:
            continue
        value = ctx.text(expr)
        if value.isascii():
            tokens += [key, quote(value)]
        elif literal is None:
            literal = (key, value.encode("utf-8"))
        else:
            raise ConfigError("search: only one of from, to, subject and body may be non-ASCII")
    for key, expr, name in (("SINCE", search.since, "since"), ("BEFORE", search.before, "before")):
        if expr is not None:
            tokens += [key, _imap_date(parse_date(ctx.text(expr), name))]
    if search.raw is not None:
        raw = ctx.text(search.raw).strip()
        if not raw.isascii() or "\r" in raw or "\n" in raw:
            raise ConfigError("search.raw must be ASCII text on one line")
        if raw:
            tokens.append(raw)
    if literal is not None:
        tokens.append(literal[0])  # the literal itself follows as the last argument
        return Criteria(tokens, literal[1])
    return Criteria(tokens)


def _answer(data: Any) -> str:
    parts = data if isinstance(data, list) else [data]
    texts = []
    for part in parts:
        if isinstance(part, bytes):
            texts.append(part.decode("utf-8", errors="replace"))
        elif part is not None:
            texts.append(str(part))
    return " ".join(texts).strip()


def _error_text(exc: BaseException) -> str:
    text = str(exc)
    match = re.fullmatch(r"b'(.*)'|b\"(.*)\"", text)
    return (match.group(1) or match.group(2)) if match else text


@dataclass
class Session:
    """One logged-in IMAP connection (blocking; use from one thread at a time)."""

    host: str
    port: int
    security: str
    context: ssl.SSLContext | None
    timeout: float
    imap: Any = None
    capabilities: set[str] = field(default_factory=set)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def open(self, username: str, password: str) -> None:
        if self.security == "tls":
            self.imap = imaplib.IMAP4_SSL(
                self.host, self.port, ssl_context=self.context, timeout=self.timeout
            )
        else:
            self.imap = imaplib.IMAP4(self.host, self.port, timeout=self.timeout)
            if self.security == "starttls":
                self.imap.starttls(ssl_context=self.context)
        try:
            self.imap.login(quote(username), password)
        except imaplib.IMAP4.abort:
            raise
        except imaplib.IMAP4.error as exc:
            answer = _error_text(exc).replace(password, "***") if password else _error_text(exc)
            raise AuthFailed(
                f"{self.address} refused the login of {username!r}: {answer}"
            ) from None
        self.capabilities = {c.upper() for c in self.imap.capabilities}
        typ, data = self.imap.capability()
        if typ == "OK" and data and isinstance(data[0], bytes):
            self.capabilities = {c.upper() for c in data[0].decode("ascii", "replace").split()}

    def select(self, folder: str, readonly: bool) -> None:
        typ, data = self.imap.select(mailbox_name(folder), readonly=readonly)
        if typ != "OK":
            answer = _answer(data)
            if "NONEXISTENT" in answer.upper() or "doesn't exist" in answer:
                raise NotFound(f"folder {folder!r} does not exist on {self.address}: {answer}")
            raise NodeError(f"cannot open folder {folder!r}: {answer}", type="imap")

    def search(self, found: Criteria) -> list[int]:
        self.imap.literal = found.literal
        try:
            typ, data = self.imap.uid("SEARCH", *found.arguments())
        except imaplib.IMAP4.abort:
            raise
        except imaplib.IMAP4.error as exc:
            raise ConfigError(f"the server rejected the search: {_error_text(exc)}") from None
        finally:
            self.imap.literal = None
        if typ != "OK":
            raise NodeError(f"search failed: {_answer(data)}", type="imap")
        uids: list[int] = []
        for chunk in data:
            if isinstance(chunk, bytes):
                uids += [int(n) for n in chunk.split()]
        return sorted(set(uids))

    def sizes(self, uids: list[int]) -> dict[int, int]:
        typ, data = self.imap.uid("FETCH", _uid_set(uids), "(UID RFC822.SIZE)")
        if typ != "OK":
            raise NodeError(f"fetch failed: {_answer(data)}", type="imap")
        sizes: dict[int, int] = {}
        for item in data:
            line = item[0] if isinstance(item, tuple) else item
            if not isinstance(line, bytes):
                continue
            match = _SIZE.search(line)
            if match:
                if match.group(1):
                    sizes[int(match.group(1))] = int(match.group(2))
                else:
                    sizes[int(match.group(4))] = int(match.group(3))
        return sizes

    def fetch(self, uid: int) -> tuple[bytes, list[str]] | None:
        """The raw message and its flags; None when it vanished since the search."""
        typ, data = self.imap.uid("FETCH", str(uid), "(FLAGS BODY.PEEK[])")
        if typ != "OK":
            raise NodeError(f"fetch of message {uid} failed: {_answer(data)}", type="imap")
        raw: bytes | None = None
        flags: list[str] = []
        for item in data:
            if isinstance(item, tuple):
                raw = item[1]
                header = item[0]
            elif isinstance(item, bytes):
                header = item
            else:
                continue
            match = _FLAGS.search(header)
            if match:
                flags = match.group(1).decode("ascii", "replace").split()
        return None if raw is None else (raw, flags)

    def mark_seen(self, uids: list[int]) -> None:
        typ, data = self.imap.uid("STORE", _uid_set(uids), "+FLAGS.SILENT", "(\\Seen)")
        if typ != "OK":
            raise NodeError(f"cannot flag messages as seen: {_answer(data)}", type="imap")

    def move(self, uids: list[int], folder: str) -> None:
        target = mailbox_name(folder)
        if "MOVE" in self.capabilities:
            typ, data = self.imap.uid("MOVE", _uid_set(uids), target)
            self._moved(typ, data, folder)
            return
        typ, data = self.imap.uid("COPY", _uid_set(uids), target)
        self._moved(typ, data, folder)
        typ, data = self.imap.uid("STORE", _uid_set(uids), "+FLAGS.SILENT", "(\\Deleted)")
        if typ != "OK":
            raise NodeError(f"cannot flag moved messages as deleted: {_answer(data)}", type="imap")
        if "UIDPLUS" in self.capabilities:
            self.imap.uid("EXPUNGE", _uid_set(uids))
        else:
            self.imap.expunge()

    def _moved(self, typ: str, data: Any, folder: str) -> None:
        if typ == "OK":
            return
        answer = _answer(data)
        if "TRYCREATE" in answer.upper() or "doesn't exist" in answer:
            raise NotFound(f"folder {folder!r} does not exist on {self.address}: {answer}")
        raise NodeError(f"cannot move messages to {folder!r}: {answer}", type="imap")

    def close(self) -> None:
        if self.imap is None:
            return
        try:
            self.imap.logout()
        except (imaplib.IMAP4.error, OSError):
            with contextlib.suppress(OSError):
                self.imap.shutdown()
        self.imap = None


def _uid_set(uids: list[int]) -> str:
    return ",".join(str(uid) for uid in uids)


@dataclass
class Part:
    filename: str
    content_type: str
    data: bytes


@dataclass
class Parsed:
    fields: dict[str, Any]
    parts: list[Part]


def _addresses(message: Message, name: str) -> list[str]:
    values = [str(v) for v in message.get_all(name, [])]
    found = []
    for display, address in getaddresses(values):
        if address:
            found.append(f"{display} <{address}>" if display else address)
    return found


def _date(message: Message) -> str | None:
    value = message.get("Date")
    if value is None:
        return None
    try:
        return parsedate_to_datetime(str(value)).isoformat()
    except (TypeError, ValueError):
        return str(value)


def _text_of(part: Message) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
    except (LookupError, ValueError):  # unknown charset, undecodable
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else ""
    return content.replace("\r\n", "\n") if isinstance(content, str) else ""


def _collect(part: Message, bodies: set[int], parts: list[Part]) -> None:
    if part.get_content_type() == "message/rfc822":
        inner = part.get_payload()
        first = inner[0] if isinstance(inner, list) and inner else None
        data = first.as_bytes() if isinstance(first, Message) else b""
        parts.append(Part(part.get_filename() or "message.eml", "message/rfc822", data))
        return
    if part.is_multipart():
        for child in part.get_payload():
            if isinstance(child, Message):
                _collect(child, bodies, parts)
        return
    if id(part) in bodies:
        return
    disposition = part.get_content_disposition()
    filename = part.get_filename()
    if disposition == "attachment" or filename or part.get_content_maintype() != "text":
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        content_type = part.get_content_type()
        parts.append(Part(filename or f"part-{len(parts) + 1}", content_type, data))


def parse(uid: int, raw: bytes, flags: list[str]) -> Parsed:
    message = email.message_from_bytes(raw, policy=default_policy)
    assert isinstance(message, EmailMessage)
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    bodies = {id(p) for p in (text_part, html_part) if p is not None}
    parts: list[Part] = []
    _collect(message, bodies, parts)
    subject = message.get("Subject")
    message_id = message.get("Message-ID")
    sender = _addresses(message, "From")
    fields = {
        "uid": uid,
        "messageId": str(message_id).strip() if message_id is not None else None,
        "from": sender[0] if sender else (str(message.get("From") or "") or None),
        "to": _addresses(message, "To"),
        "cc": _addresses(message, "Cc"),
        "subject": str(subject) if subject is not None else "",
        "date": _date(message),
        "flags": flags,
        "size": len(raw),
        "text": _text_of(text_part) if text_part is not None else None,
        "html": _text_of(html_part) if html_part is not None else None,
    }
    return Parsed(fields, parts)


def _write(parts: list[tuple[Path, bytes]]) -> None:
    for path, data in parts:
        path.write_bytes(data)


def translate(exc: BaseException, address: str) -> NodeError:
    if isinstance(exc, NodeError):
        return exc
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return NodeError(f"TLS with {address} failed: {exc}", type="tls")
    if isinstance(exc, imaplib.IMAP4.abort):
        return ConnectionFailed(f"the IMAP connection to {address} broke: {_error_text(exc)}")
    if isinstance(exc, TimeoutError | socket.timeout):
        return ConnectionFailed(f"IMAP server {address} did not answer in time")
    if isinstance(exc, OSError):
        return ConnectionFailed(f"cannot reach IMAP server {address}: {exc}")
    return NodeError(f"IMAP with {address} failed: {_error_text(exc)}", type="imap")


async def receive(config: MailReceive, ctx: NodeContext) -> list[dict[str, Any]]:
    server = config.imap
    host = ctx.text(server.host)
    port = server.port or server.default_port
    folder = ctx.text(config.folder) or "INBOX"
    move_to = ctx.text(config.moveTo) if config.moveTo is not None else None
    found = criteria(config.search, ctx) if config.search else Criteria([])
    username = ctx.reveal(server.username)
    password = ctx.reveal(server.password)
    context = tls_context(server, ctx, f"{host}:{port}") if server.security != "none" else None
    session = Session(host, port, server.security, context, server.timeout)
    source = f"imap://{host}{'' if port == server.default_port else f':{port}'}/{folder}"

    async def call(function: Any, *args: Any) -> Any:
        try:
            return await asyncio.to_thread(function, *args)
        except (NodeError, OSError, imaplib.IMAP4.error) as exc:
            raise translate(exc, session.address) from None

    messages: list[dict[str, Any]] = []
    try:
        await call(session.open, username, password)
        await call(session.select, folder, not (config.markSeen or move_to))
        uids = (await call(session.search, found))[: config.limit]
        sizes = await call(session.sizes, uids) if uids else {}
        for uid in uids:
            size = sizes.get(uid, 0)
            if size > config.maxMessageSize:
                raise NodeError(
                    f"message {uid} in {folder!r} is {size} bytes, more than maxMessageSize "
                    f"({config.maxMessageSize} bytes)",
                    type="mail",
                )
            fetched = await call(session.fetch, uid)
            if fetched is None:
                continue
            parsed: Parsed = await call(parse, uid, *fetched)
            attachments: list[dict[str, Any]] = []
            if config.attachments:
                spooled = [(ctx.spool.new_path(part.filename), part) for part in parsed.parts]
                await call(_write, [(path, part.data) for path, part in spooled])
                for path, part in spooled:
                    attachments.append(
                        file_ref(
                            path,
                            part.filename,
                            size=len(part.data),
                            content_type=part.content_type,
                            source=f"{source};UID={uid}",
                        )
                    )
            else:
                attachments = [
                    {"name": p.filename, "contentType": p.content_type, "size": len(p.data)}
                    for p in parsed.parts
                ]
            messages.append({**parsed.fields, "attachments": attachments})
        done = [message["uid"] for message in messages]
        if done and config.markSeen:
            await call(session.mark_seen, done)
            for message in messages:
                if "\\Seen" not in message["flags"]:
                    message["flags"].append("\\Seen")
        if done and move_to:
            await call(session.move, done, move_to)
    finally:
        await asyncio.shield(asyncio.to_thread(session.close))
    return messages
