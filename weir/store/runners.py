"""Which runner processes are alive, and what the ones that died left behind.

A store that records executions is a runner: its first records register it in
``weir_runners`` (in the same transaction, so no execution of it is ever without its row), its
executions carry its id, its writer refreshes the row's heartbeat every few seconds, and closing
the store deletes the row. A process that ends without closing it (kill -9, a crash, a lost
machine) leaves the row behind, and executions ``running`` that never will finish.

A sweep, when a store starts and at every heartbeat, finds the runners that are gone: their
heartbeat is older than ``stale_after`` by the database's clock, or their process is known
dead (on Linux, a runner on the same machine and in the same PID namespace whose PID no longer
names that process). It deletes their rows and marks ``interrupted`` every running execution
whose runner has no row: those of the runners just found gone, and those recorded before
runners were tracked. Several replicas sweeping one PostgreSQL store at once mark each
execution once: the update re-checks ``status = 'running'`` on rows another sweep just changed.

A console's store also holds the executions runners ship to it (``weir.store.ingest``): their
runner is REMOTE, registered by its shipments and kept alive by them and by its polls for
cancellations; it is taken for gone only after REMOTE_STALE_AFTER without a word. Every
execution marked interrupted gets an event (``weir.store.events``), as every other change.

A runner taken for gone while it lives (it could not reach the store for ``stale_after``) has
its executions marked interrupted; the outcome it writes when they finish replaces the mark,
and its next heartbeat registers it again.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from weir.lang.ids import new_execution_id
from weir.store import events
from weir.store.base import Interrupted
from weir.store.batches import Done, Statements
from weir.store.records import Status, iso_time
from weir.store.tables import executions, runners

log = logging.getLogger("weir.store")

HEARTBEAT = 5.0
"""Seconds between heartbeats (and sweeps)."""
STALE_AFTER = 30.0
"""A runner whose heartbeat is older than this is taken for gone."""

REMOTE = "remote"
"""The ``process`` of a runner known to a console only from what it ships (weir.store.ingest):
alive while it ships or asks for its cancellations (``remote_heartbeat``)."""
REMOTE_STALE_AFTER = 600.0
"""A remote runner is taken for gone after this long without a word: it ships only when
something changed, and a runner's long poll for cancellations may be off."""
INTERRUPTED = "interrupted"
"""The error type of an execution marked interrupted."""

_DB_NOW = {
    "sqlite": "((julianday('now') - 2440587.5) * 86400.0)",
    "postgresql": "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)",
}
"""Now as epoch seconds by the database's clock: runners on several machines agree on it."""


@dataclass(frozen=True, slots=True)
class Identity:
    id: str
    host: str
    pid: int
    process: str | None
    started_at: float

    @classmethod
    def of_this_process(cls) -> Identity:
        return cls(
            new_execution_id(), socket.gethostname(), os.getpid(), _token(os.getpid()), time.time()
        )


class Runners:
    """This runner's row and the sweep, on the store's engine."""

    def __init__(self, dialect: str, identity: Identity, stale_after: float = STALE_AFTER) -> None:
        self.identity = identity
        self.stale_after = stale_after
        self.registered = False
        self._dialect = dialect
        self._mark = "?" if dialect == "sqlite" else "%s"
        self._now = _DB_NOW["sqlite" if dialect == "sqlite" else "postgresql"]

    def registration(self) -> tuple[str, list[tuple[Any, ...]]]:
        """The statement inserting this runner's row or refreshing its heartbeat, and its
        rows: the batch writer runs it with the runner's first records."""
        m, me = self._mark, self.identity
        return (
            f"INSERT INTO {runners.name} (id, host, pid, process, started_at, heartbeat_at) "
            f"VALUES ({m}, {m}, {m}, {m}, {m}, {self._now}) "
            "ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
            [(me.id, me.host[:253], me.pid, me.process, me.started_at)],
        )

    def on_registered(self, done: Done) -> Done:
        """``done`` for the batch that registers this runner: registered once it committed."""

        def ended(error: BaseException | None) -> None:
            if error is None:
                self.registered = True
            done(error)

        return ended

    def remote_heartbeat(self, runner: str) -> tuple[str, list[tuple[Any, ...]]]:
        """The statement registering a remote runner (REMOTE) or refreshing its heartbeat."""
        m = self._mark
        return (
            f"INSERT INTO {runners.name} (id, host, pid, process, started_at, heartbeat_at) "
            f"VALUES ({m}, {m}, 0, {m}, {self._now}, {self._now}) "
            "ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
            [(runner, REMOTE, REMOTE)],
        )

    def remote_touch(self, runner: str) -> tuple[str, list[tuple[Any, ...]]]:
        """Refreshes a remote runner's heartbeat, if it is one this store knows."""
        m = self._mark
        return (
            f"UPDATE {runners.name} SET heartbeat_at = {self._now} "
            f"WHERE id = {m} AND process = {m}",
            [(runner, REMOTE)],
        )

    async def heartbeat(
        self,
        engine: AsyncEngine,
        write: Callable[[Statements], Awaitable[None]],
    ) -> list[Interrupted]:
        """Refresh this runner's row (once it recorded something) through ``write``, the
        store's batch writer (on SQLite its process, between two batches: no second writer
        waits for the lock), then sweep."""
        if self.registered:
            await write([self.registration()])
        return await self.sweep(engine)

    async def leave(self, engine: AsyncEngine) -> None:
        if self.registered:
            async with engine.begin() as connection:
                await connection.exec_driver_sql(
                    f"DELETE FROM {runners.name} WHERE id = {self._mark}", (self.identity.id,)
                )
            self.registered = False

    async def sweep(self, engine: AsyncEngine) -> list[Interrupted]:
        """Mark the running executions of runners that are gone as interrupted."""
        async with engine.connect() as connection:
            rows: list[Any] = list(
                (
                    await connection.exec_driver_sql(
                        f"SELECT id, process, heartbeat_at, {self._now} FROM {runners.name}"
                    )
                ).all()
            )
            orphans = (await connection.exec_driver_sql(_ORPHAN_CHECK)).first()
        gone = [
            (row[0], row[2])
            for row in rows
            if row[0] != self.identity.id
            and (row[2] < row[3] - self._stale_after(row[1]) or process_gone(row[1]))
        ]
        if not gone and orphans is None:
            return []
        noticed = time.time()
        async with engine.begin() as connection:
            for runner, heartbeat_at in gone:  # unless it came back meanwhile
                await connection.exec_driver_sql(
                    f"DELETE FROM {runners.name} WHERE id = {self._mark} "
                    f"AND heartbeat_at = {self._mark}",
                    (runner, heartbeat_at),
                )
            marked = await connection.exec_driver_sql(
                f"UPDATE {executions.name} SET status = {self._mark}, "
                f"finished_at = {self._mark}, duration_ms = ({self._mark} - started_at) * 1000, "
                f"error = {self._mark}, error_type = {self._mark} {_ORPHANS} RETURNING id, flow",
                (Status.INTERRUPTED.value, noticed, noticed, self._error(noticed), INTERRUPTED),
            )
            returned: list[Any] = list(marked.all())
            found = [Interrupted(row[0], row[1]) for row in returned]
            if found:
                statement, rows = events.appending(
                    self._dialect,
                    [
                        events.execution_event(item.id, Status.INTERRUPTED, noticed, noticed)
                        for item in found
                    ],
                )
                await connection.exec_driver_sql(statement, rows)
        return found

    def _stale_after(self, process: str | None) -> float:
        return REMOTE_STALE_AFTER if process == REMOTE else self.stale_after

    def _error(self, noticed: float) -> str:
        me = self.identity
        return json.dumps(
            {
                "type": INTERRUPTED,
                "message": "the runner stopped while this execution ran (killed, crashed or "
                f"its machine lost); noticed at {iso_time(noticed)} by runner {me.id} "
                f"(host {me.host}, pid {me.pid})",
                "retryable": False,
            }
        )


_ORPHANS = (
    f"WHERE status = 'running' AND (runner IS NULL OR runner NOT IN "
    f"(SELECT id FROM {runners.name})) "
    # Resuming a wait its runner claimed: weir.store.waits takes the claim back instead.
    "AND id NOT IN (SELECT execution_id FROM weir_waits WHERE state = 'claimed')"
)
_ORPHAN_CHECK = f"SELECT 1 FROM {executions.name} {_ORPHANS} LIMIT 1"


def _token(pid: int) -> str | None:
    """What names this process on this machine for as long as it lives (Linux only)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        namespace = os.stat("/proc/self/ns/pid").st_ino
        started = _start_ticks(pid)
    except (OSError, IndexError, ValueError):
        return None
    return None if started is None else f"{boot}/{namespace}/{pid}/{started}"


def _start_ticks(pid: int) -> str | None:
    """The process's start time in clock ticks since boot; None if it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return None if fields[0] == "Z" else fields[19]


def process_gone(token: Any) -> bool:
    """True only when certain: the token names a process of this machine and PID namespace,
    and that PID no longer is that process. False when it lives or cannot be told."""
    if not isinstance(token, str) or token.count("/") != 3:
        return False
    mine = _token(os.getpid())
    if mine is None or mine.rsplit("/", 2)[0] != token.rsplit("/", 2)[0]:
        return False  # another machine or PID namespace: only the heartbeat can tell
    _, _, pid, started = token.split("/")
    try:
        return _start_ticks(int(pid)) != started
    except (OSError, IndexError, ValueError):
        return False


def log_interrupted(found: list[Interrupted]) -> None:
    """One warning naming (the first ten of) the executions a sweep marked interrupted."""
    shown = ", ".join(item.id for item in found[:10])
    more = f" and {len(found) - 10} more" if len(found) > 10 else ""
    log.warning(
        "%d executions were left running by a runner that stopped; marked interrupted: %s%s",
        len(found),
        shown,
        more,
    )
