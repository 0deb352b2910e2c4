"""One logged-in IMAP connection over imaplib (blocking), with the server's refusals and
failures turned into node errors that say what the server said."""

from __future__ import annotations

import base64
import contextlib
import imaplib
import re
import socket
import ssl
from dataclasses import dataclass, field
from typing import Any

from weir.lang.errors import AuthFailed, ConfigError, ConnectionFailed, NodeError, NotFound

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


@dataclass
class Criteria:
    tokens: list[str]
    literal: bytes | None = None
    """One non-ASCII value, sent last as a literal after ``CHARSET UTF-8``."""

    def arguments(self) -> list[str]:
        if self.literal is not None:
            return ["CHARSET", "UTF-8", *self.tokens]
        return self.tokens or ["ALL"]


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

    def uid_validity(self) -> int | None:
        """The selected folder's UIDVALIDITY (sent on select): while it stays the same, a UID
        names the same message; None if the server did not say."""
        _typ, data = self.imap.response("UIDVALIDITY")
        value = data[0] if data else None
        text = value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)
        return int(text) if text.isdigit() else None

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
