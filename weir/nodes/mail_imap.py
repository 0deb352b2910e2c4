"""The `mail` node's receive operation: search an IMAP folder, fetch, parse and spool messages.

imaplib is blocking: each exchange with the server runs in a worker thread, one message at a
time, so that a message's attachments are written to the spool before the next one is fetched.
The connection is mail_imap_session.Session; the parsing, mail_message.parse.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import imaplib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from weir.lang.errors import ConfigError, NodeError
from weir.nodes.context import NodeContext
from weir.nodes.mail import MailReceive, MailSearch, parse_date, tls_context
from weir.nodes.mail_imap_session import Criteria, Session, quote, translate
from weir.nodes.mail_message import Parsed, parse
from weir.nodes.spool import file_ref

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _imap_date(value: dt.date) -> str:
    return f"{value.day:02d}-{_MONTHS[value.month - 1]}-{value.year}"


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


def _write(parts: list[tuple[Path, bytes]]) -> None:
    for path, data in parts:
        path.write_bytes(data)


@dataclass
class Mailbox:
    """A logged-in session with the folder selected; close it with ``close``."""

    session: Session
    folder: str
    source: str
    """The folder as a URL, for the attachments' file references."""
    move_to: str | None

    async def close(self) -> None:
        await asyncio.shield(asyncio.to_thread(self.session.close))


async def open_mailbox(config: MailReceive, ctx: NodeContext, *, readonly: bool) -> Mailbox:
    """Log in and select the folder (``readonly``: flags stay as they are)."""
    server = config.imap
    host = ctx.text(server.host)
    port = server.port or server.default_port
    folder = ctx.text(config.folder) or "INBOX"
    move_to = ctx.text(config.moveTo) if config.moveTo is not None else None
    username = ctx.reveal(server.username)
    password = ctx.reveal(server.password)
    context = tls_context(server, ctx, f"{host}:{port}") if server.security != "none" else None
    session = Session(host, port, server.security, context, server.timeout)
    source = f"imap://{host}{'' if port == server.default_port else f':{port}'}/{folder}"
    box = Mailbox(session, folder, source, move_to)
    try:
        await _call(session, session.open, username, password)
        await _call(session, session.select, folder, readonly)
    except BaseException:
        await box.close()
        raise
    return box


async def search(config: MailReceive, ctx: NodeContext, box: Mailbox) -> list[int]:
    """The UIDs of the messages the search finds, oldest first."""
    found = criteria(config.search, ctx) if config.search else Criteria([])
    uids: list[int] = await _call(box.session, box.session.search, found)
    return uids


async def message(
    config: MailReceive, ctx: NodeContext, box: Mailbox, uid: int, size: int
) -> dict[str, Any] | None:
    """One message as the node outputs it, its attachments spooled; None if it vanished."""
    if size > config.maxMessageSize:
        raise NodeError(
            f"message {uid} in {box.folder!r} is {size} bytes, more than maxMessageSize "
            f"({config.maxMessageSize} bytes)",
            type="mail",
        )
    session = box.session
    fetched = await _call(session, session.fetch, uid)
    if fetched is None:
        return None
    parsed: Parsed = await _call(session, parse, uid, *fetched)
    attachments = await _attachments(config, ctx, session, parsed, f"{box.source};UID={uid}")
    return {**parsed.fields, "attachments": attachments}


async def sizes(box: Mailbox, uids: list[int]) -> dict[int, int]:
    found: dict[int, int] = await _call(box.session, box.session.sizes, uids) if uids else {}
    return found


async def receive(config: MailReceive, ctx: NodeContext) -> list[dict[str, Any]]:
    readonly = not (config.markSeen or config.moveTo is not None)
    box = await open_mailbox(config, ctx, readonly=readonly)
    messages: list[dict[str, Any]] = []
    try:
        uids = (await search(config, ctx, box))[: config.limit]
        found = await sizes(box, uids)
        for uid in uids:
            fetched = await message(config, ctx, box, uid, found.get(uid, 0))
            if fetched is not None:
                messages.append(fetched)
        await settle(config, box, messages)
    finally:
        await box.close()
    return messages


async def _call(session: Session, function: Any, *args: Any) -> Any:
    """One blocking exchange in a worker thread, its failure as a node error."""
    try:
        return await asyncio.to_thread(function, *args)
    except (NodeError, OSError, imaplib.IMAP4.error) as exc:
        raise translate(exc, session.address) from None


async def _attachments(
    config: MailReceive, ctx: NodeContext, session: Session, parsed: Parsed, source: str
) -> list[dict[str, Any]]:
    """The message's attachments spooled as file references, or only described when
    ``attachments`` is off."""
    if not config.attachments:
        return [
            {"name": p.filename, "contentType": p.content_type, "size": len(p.data)}
            for p in parsed.parts
        ]
    spooled = [(ctx.spool.new_path(part.filename), part) for part in parsed.parts]
    await _call(session, _write, [(path, part.data) for path, part in spooled])
    return [
        file_ref(
            path,
            part.filename,
            size=len(part.data),
            content_type=part.content_type,
            source=source,
        )
        for path, part in spooled
    ]


async def settle(config: MailReceive, box: Mailbox, messages: list[dict[str, Any]]) -> None:
    """Flag the received messages as seen, or move them, as the node asks."""
    session, move_to = box.session, box.move_to
    done = [message["uid"] for message in messages]
    if done and config.markSeen:
        await _call(session, session.mark_seen, done)
        for message in messages:
            if "\\Seen" not in message["flags"]:
                message["flags"].append("\\Seen")
    if done and move_to:
        await _call(session, session.move, done, move_to)
