"""The ``mail`` trigger: one execution per new message in an IMAP folder, through the mail
node's receive code.

* A message is new by its folder's UIDVALIDITY and its UID, never by a high-water mark: a
  message that arrives late with a lower UID, or that an earlier poll left for lack of room,
  still starts. A new UIDVALIDITY (the folder was recreated) makes every message in it new.
* Each poll searches the folder read-only (``search`` as the node takes it) and fetches only
  the messages it claims. ``$.input`` is the message as the node outputs it, attachments
  spooled as file references (removed once the execution ended).
* ``markSeen`` and ``moveTo`` act once the message's execution succeeded.
"""

from __future__ import annotations

from typing import Any

from weir.engine.service import FlowService
from weir.flow.poll_triggers import MailTrigger
from weir.nodes.context import NodeContext
from weir.nodes.mail_imap import Mailbox, message, open_mailbox, search, settle, sizes
from weir.nodes.spool import Spool
from weir.triggers.poll.poller import node_context, poll_kind
from weir.triggers.poll.source import Item, Look


class MailSource:
    def __init__(self, service: FlowService, spec: MailTrigger) -> None:
        self.service = service
        self.spec = spec
        self.box: Mailbox | None = None
        self.spools: dict[str, Spool] = {}
        """Attachments of the messages whose executions run, by item key."""

    def context(self, spool: Spool | None = None) -> NodeContext:
        return node_context(self.service, spool)

    async def look(self) -> Look:
        self.box = box = await open_mailbox(self.spec, self.context(), readonly=True)
        validity = box.session.uid_validity()
        uids = await search(self.spec, self.context(), box)
        return Look(
            [
                Item(
                    f"{box.folder}@{validity}@{uid}",
                    uid,
                    {"folder": box.folder, "uid": uid, "uidValidity": validity},
                )
                for uid in uids
            ]
        )

    async def load(self, item: Item) -> Any:
        assert self.box is not None, "load follows look"
        size = (await sizes(self.box, [item.ref])).get(item.ref)
        if size is None:
            return None  # expunged since the search
        spool = self.spools[item.key] = Spool()
        return await message(self.spec, self.context(spool), self.box, item.ref, size)

    async def end(self) -> None:
        if self.box is not None:
            box, self.box = self.box, None
            await box.close()

    def release(self, item: Item) -> None:
        spool = self.spools.pop(item.key, None)
        if spool is not None:
            spool.cleanup()

    async def finish(self, item: Item, succeeded: bool) -> None:
        self.release(item)
        if not succeeded or not (self.spec.markSeen or self.spec.moveTo is not None):
            return
        box = await open_mailbox(self.spec, self.context(), readonly=False)
        try:
            await settle(self.spec, box, [{"uid": item.ref, "flags": []}])
        finally:
            await box.close()


KIND = poll_kind(
    "mail", MailTrigger, MailSource, "polls an IMAP folder; one execution per new message"
)
