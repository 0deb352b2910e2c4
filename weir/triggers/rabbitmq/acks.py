"""Acks of one channel's deliveries, coalesced: executions that settle in the same turn of the
event loop (a group commit releases many at once) are acked with one ``multiple`` frame.

A ``multiple`` ack of tag T acks every delivery up to T the broker still holds, so it is sent
only for a run of consecutive tags that are all settled: delivery tags are numbered 1, 2, 3 ...
per channel, and a tag still running (or unseen) ends the run. Settled tags behind such a gap
are acked one by one at once, so a slow execution never holds back the acks of the others (nor,
through the prefetch window, the deliveries behind them).
"""

from __future__ import annotations

import asyncio
from typing import Any


class AckBatcher:
    def __init__(self, channel: Any) -> None:
        self.channel = channel
        """The aiormq channel the deliveries came on; their tags mean nothing on another."""
        self._next = 1  # the lowest tag not yet settled
        self._settled: set[int] = set()  # to ack, waiting for the next flush
        self._alone: set[int] = set()  # above _next, settled by a frame of their own
        self._flush: asyncio.Future[None] | None = None

    async def ack(self, tag: int) -> None:
        """Ack the delivery ``tag``; returns once its frame is queued on the connection."""
        self._settled.add(tag)
        if self._flush is None:
            self._flush = asyncio.ensure_future(self._send())
        await asyncio.shield(self._flush)

    def settled_alone(self, tag: int) -> None:
        """``tag`` was settled by a frame of its own (a nack), already queued on the channel:
        later ``multiple`` acks may pass over it."""
        if tag >= self._next:
            self._alone.add(tag)
            self._advance()

    async def _send(self) -> None:
        self._flush = None  # acks from here on wait for the next flush
        settled, self._settled = self._settled, set()
        highest = None
        while self._next in settled or self._next in self._alone:
            if self._next in settled:
                highest = self._next
                settled.discard(self._next)
            else:
                self._alone.discard(self._next)
            self._next += 1
        if highest is not None:
            await self.channel.basic_ack(highest, multiple=True, wait=False)
        for tag in sorted(settled):  # behind a gap: one frame each
            await self.channel.basic_ack(tag, wait=False)
            self._alone.add(tag)

    def _advance(self) -> None:
        while self._next in self._alone:
            self._alone.discard(self._next)
            self._next += 1
