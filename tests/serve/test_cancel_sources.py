"""A cancel stops the work where it runs, not only the execution's task: the HTTP server sees
its client go away, the database no longer runs the statement, the V8 isolate stops spinning.
Each within a second of the cancel, with the execution recorded ``cancelled``, and the next
execution of the same runner (same pools) works."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.serve import test_cancel
from tests.serve.test_cancel import HEAD, Hanging, recorded_status, service, started
from tests.servers.services import MARIADB, POSTGRES
from weir.engine.executor import TriggerEvent
from weir.engine.service import FlowService
from weir.store.records import Status

WITHIN = 1.0
hanging = test_cancel.hanging  # the HTTP server that never answers, as a fixture here too


async def cancelled_in_time(svc: FlowService, ready: Callable[[], Awaitable[Any]]) -> float:
    """Start an execution, wait until ``ready`` says its node is at work, cancel it; check it
    ends cancelled within a second, recorded so, and return when the cancel was asked."""
    running = asyncio.create_task(svc.execute(TriggerEvent(kind="manual", payload={})))
    execution_id = await started(svc)
    await asyncio.wait_for(ready(), 10)
    asked = time.monotonic()
    assert svc.cancel(execution_id) is True
    result = await asyncio.wait_for(running, 5)
    assert time.monotonic() - asked < WITHIN
    assert result.status == Status.CANCELLED
    assert result.error is not None and result.error["type"] == "cancelled"
    assert await recorded_status(svc, execution_id) == Status.CANCELLED
    return asked


async def until(check: Callable[[], Awaitable[bool]], deadline: float, what: str) -> None:
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {WITHIN}s of the cancel")
        await asyncio.sleep(0.02)


async def test_cancel_aborts_the_http_call_at_the_server(
    tmp_path: Path, hanging: tuple[Hanging, str]
) -> None:
    server, url = hanging
    svc = await service(
        tmp_path, f"{{name: call, http: {{url: '{url}', timeout: 1h}}}}", store=True
    )
    asked = await cancelled_in_time(svc, server.arrived.wait)

    async def gone() -> bool:
        return server.aborted.is_set()  # its handler was cancelled: the client went away

    await until(gone, asked + WITHIN, "the server saw its client go away")
    await svc.engine.aclose()


# SQL: a statement the server would run for 30 s; a marker tells it apart from other tests'.

SLEEPS = {
    "postgresql": (POSTGRES, "SELECT pg_sleep(30) AS {marker}"),
    "mariadb": (MARIADB, "SELECT SLEEP(30) AS {marker}"),
}
RUNNING = {
    "postgresql": "SELECT count(*) FROM pg_stat_activity WHERE query LIKE :pattern "
    "AND state = 'active' AND pid <> pg_backend_pid()",
    "mariadb": "SELECT count(*) FROM information_schema.processlist WHERE info LIKE :pattern "
    "AND id <> CONNECTION_ID()",
}


class Monitor:
    """Counts, from a connection of its own, the statements running with a marker."""

    def __init__(self, server: str, url: str, marker: str) -> None:
        from sqlalchemy.ext.asyncio import create_async_engine

        from weir.nodes.sql import driver_url

        self.engine = create_async_engine(driver_url(url))
        self.sql = RUNNING[server]
        self.pattern = f"%SLEEP(30) AS {marker}%" if server == "mariadb" else f"%{marker}%"

    async def running(self) -> int:
        from sqlalchemy import text

        async with self.engine.connect() as connection:
            found = await connection.execute(text(self.sql), {"pattern": self.pattern})
            return int(found.scalar_one())

    async def aclose(self) -> None:
        await self.engine.dispose()


def sql_node(url: str, statement: str) -> str:
    return f"{{name: query, sql: {{connection: '{url}', query: '{statement}'}}}}"


@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
async def test_cancel_stops_the_statement_on_the_database_server(
    tmp_path: Path, server: str
) -> None:
    found, sleep = SLEEPS[server]
    found.require()
    marker = f"cancel_{uuid.uuid4().hex[:12]}"
    monitor = Monitor(server, found.url, marker)
    svc = await service(tmp_path, sql_node(found.url, sleep.format(marker=marker)), store=True)

    async def statement_running() -> None:
        while await monitor.running() == 0:
            await asyncio.sleep(0.02)

    asked = await cancelled_in_time(svc, statement_running)

    async def stopped() -> bool:
        return await monitor.running() == 0

    await until(stopped, asked + WITHIN, f"the statement stopped on {server}")
    # A clean connection from the same pool: its own answer, not the cancelled statement's.
    again = await next_execution_runs(svc, tmp_path, sql_node(found.url, "SELECT 7 AS seven"))
    assert again["rows"] == [{"seven": 7}]
    await monitor.aclose()
    await svc.engine.aclose()


async def next_execution_runs(svc: FlowService, tmp_path: Path, node: str) -> Any:
    """The runner's next execution, of ``node``, on the same pools and threads: it succeeds
    at once with its own result."""
    (tmp_path / "flow.yaml").write_text(
        HEAD + "  trigger: {manual: {}}\n  nodes:\n    - " + node + "\n"
    )
    assert await svc.reload()
    begun = time.monotonic()
    result = await asyncio.wait_for(svc.execute(TriggerEvent(kind="manual", payload={})), 5)
    assert result.status == Status.SUCCEEDED, result.error
    assert time.monotonic() - begun < WITHIN
    return result.result


async def test_cancel_interrupts_a_sqlite_statement(tmp_path: Path) -> None:
    endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) AS n FROM c"
    url = f"sqlite:///{tmp_path}/data.db"
    svc = await service(tmp_path, sql_node(url, endless), store=True)
    spinning = CpuWatch()

    async def busy() -> None:
        await asyncio.sleep(0.3)
        assert spinning.used(0.5) > 0.1, "the statement is not running"

    asked = await cancelled_in_time(svc, busy)
    await spinning.idle_by(asked + WITHIN, "the SQLite statement stopped")
    again = await next_execution_runs(svc, tmp_path, sql_node(url, "SELECT 7 AS seven"))
    assert again["rows"] == [{"seven": 7}]
    await svc.engine.aclose()


class CpuWatch:
    """The CPU time this process uses: a statement or a script that spins uses a core."""

    @staticmethod
    def used_now() -> float:
        times = os.times()
        return times.user + times.system

    def used(self, seconds: float) -> float:
        before = self.used_now()
        time.sleep(seconds)  # blocking on purpose: only the other threads run meanwhile
        return self.used_now() - before

    async def idle_by(self, deadline: float, what: str) -> None:
        """Within the deadline, a 0.2 s window in which the process used under 0.05 s."""
        while self.used(0.2) >= 0.05:
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: still using CPU {WITHIN}s after the cancel")
            await asyncio.sleep(0)


def native_threads() -> set[str]:
    """This process's threads (V8's own included) by id."""
    return set(os.listdir("/proc/self/task"))


async def test_cancel_terminates_a_spinning_script_and_frees_its_isolate(tmp_path: Path) -> None:
    svc = await service(
        tmp_path, "{name: spin, code: {script: 'while (true) {}', timeout: 1h}}", store=True
    )
    spinning = CpuWatch()
    before = native_threads()
    started_for_it: set[str] = set()

    async def busy() -> None:
        await asyncio.sleep(0.3)
        assert spinning.used(0.5) > 0.1, "the script is not spinning"
        started_for_it.update(native_threads() - before)  # the isolate's thread among them

    asked = await cancelled_in_time(svc, busy)
    await spinning.idle_by(asked + WITHIN, "the isolate stopped")

    async def freed() -> bool:
        return bool(started_for_it - native_threads())  # the isolate's thread ended

    await until(freed, asked + WITHIN, "the isolate's thread ended")

    # No poisoned isolate or worker: the next script runs.
    assert (
        await next_execution_runs(svc, tmp_path, "{name: add, code: {script: 'return 6 * 7'}}")
        == 42
    )
    await svc.engine.aclose()
