"""A fetched message parsed into the fields a `mail` receive returns, and its attachments."""

from __future__ import annotations

import email
from dataclasses import dataclass
from email.message import EmailMessage, Message
from email.policy import default as default_policy
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any


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
