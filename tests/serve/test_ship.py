"""The shipper against a stand-in console that fails on purpose: nothing recorded is lost while
the console is down or failing, nothing arrives twice, the backlog is a gauge and (above the
limit) a readiness problem, failures are logged once per streak, and an execution the console
refuses for good does not hold up the others."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.runner.serving import free_port
from tests.serve.consoles import FakeConsole, eventually, finished
from weir.engine.metrics import OutboxMetrics
from weir.serve.console_client import ConsoleClient
from weir.serve.ship import Shipper, ship_outbox
from weir.serve.streak import Backoff
from weir.store import open_store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Any]:
    opened = open_store(f"sqlite:///{tmp_path}/runner.db")
    await opened.start()
    yield opened
    await opened.aclose()


@pytest.fixture
async def console() -> AsyncIterator[FakeConsole]:
    fake = FakeConsole()
    yield fake
    await fake.stop()


class Shipping:
    """A shipper running in the background for the length of a test."""

    def __init__(self, store: Any, url: str, **options: Any) -> None:
        self.metrics = OutboxMetrics()
        self.client = ConsoleClient(url)
        self.shipper = Shipper(store, self.client, self.metrics, poll=0.05, **options)
        self.task = asyncio.get_running_loop().create_task(self.shipper.run())

    def value(self, name: str) -> float:
        metric = getattr(self.metrics, name)
        return float(metric._value.get())

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.client.aclose()


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "weir.ship" and r.levelno >= 30]


async def test_a_console_down_at_first_gets_everything_once_when_it_comes_up(
    store: Any, console: FakeConsole, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "weir.ship")
    port = free_port()
    shipping = Shipping(store, f"http://127.0.0.1:{port}")
    ids = finished(store, 120)
    await store.flush()
    await eventually(lambda: shipping.value("failures") >= 3, what="failed attempts")
    assert shipping.value("backlog") >= 120  # every recorded change waits
    more = finished(store, 30)  # recorded while the console is away
    await store.flush()

    await console.start(port)
    await eventually(lambda: len(console.received) == 150, what="every execution arrives")
    assert set(console.received) == set(ids + more)
    assert all(len(deliveries) == 1 for deliveries in console.received.values())
    assert console.runners == {store.identity.id}
    await eventually(lambda: shipping.value("backlog") == 0, what="the backlog drains")
    assert shipping.value("shipped") == 150
    await shipping.stop()

    # One warning for the whole outage (not one per attempt), one line when it ends.
    failed = [m for m in warnings(caplog) if "failed" in m]
    assert len(failed) == 1, failed
    assert f"http://127.0.0.1:{port}" in failed[0] and "recorded changes wait" in failed[0]
    assert any("works again" in r.getMessage() for r in caplog.records)


async def test_errors_then_ok_lose_nothing_and_duplicate_nothing(
    store: Any, console: FakeConsole
) -> None:
    await console.start()
    console.answers = [500, 502, 503, 500]
    ids = finished(store, 450)  # three batches
    await store.flush()
    shipping = Shipping(store, console.url)
    await eventually(lambda: len(console.received) == 450, what="every execution arrives")
    assert console.requests >= 4 + 3
    assert console.duplicates() == []
    assert all(len(deliveries) == 1 for deliveries in console.received.values())
    assert set(console.received) == set(ids)
    assert shipping.value("failures") == 4
    delivered = console.received[ids[0]][0]
    assert delivered["nodes"][0]["output"] == {"ok": True} and delivered["status"] == "succeeded"
    await shipping.stop()


async def test_a_later_state_of_an_execution_is_shipped_again(
    store: Any, console: FakeConsole
) -> None:
    await console.start()
    shipping = Shipping(store, console.url)
    (execution_id,) = finished(store, 1)
    found = None
    await store.flush()
    await eventually(lambda: execution_id in console.received)
    found = await store.get_execution(execution_id)
    assert found is not None
    record = found[0]
    record.result = {"ok": "again"}
    store.record_execution(record)
    await store.flush()
    await eventually(lambda: len(console.received[execution_id]) == 2, what="the new state")
    assert console.received[execution_id][-1]["result"] == {"ok": "again"}
    await shipping.stop()


async def test_backlog_above_the_limit_is_a_readiness_problem_logged_once(
    store: Any, console: FakeConsole, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    shipping = Shipping(store, url, limit=10)
    finished(store, 4)  # 8 changes: under the limit
    await store.flush()
    await eventually(lambda: shipping.value("failures") >= 1)
    await eventually(lambda: shipping.value("backlog") == 8)
    assert shipping.shipper.problem() is None
    finished(store, 4)
    await store.flush()
    await eventually(lambda: shipping.shipper.problem() is not None, what="not ready")
    problem = shipping.shipper.problem()
    assert problem is not None
    assert url in problem and "16 recorded changes" in problem and "WEIR_OUTBOX_LIMIT=10" in problem
    await eventually(lambda: shipping.value("failures") >= 4)  # more attempts, no more lines
    assert len([m for m in warnings(caplog) if "not ready" in m]) == 1

    await console.start(port)
    await eventually(lambda: shipping.shipper.problem() is None, what="ready again")
    assert shipping.value("backlog") == 0 and len(console.received) == 8
    await shipping.stop()


async def test_the_backlog_follows_an_outage_while_the_shipper_backs_off(store: Any) -> None:
    shipping = Shipping(store, f"http://127.0.0.1:{free_port()}", limit=5)
    shipping.shipper.streak.backoff = Backoff(first=60.0, cap=60.0)  # no second attempt
    finished(store, 1)
    shipping.shipper.wake()
    await eventually(lambda: shipping.value("failures") == 1)
    await eventually(lambda: shipping.value("backlog") == 2)
    assert shipping.shipper.problem() is None
    finished(store, 2)  # recorded during the backoff: counted without trying the console
    shipping.shipper.wake()
    await eventually(lambda: shipping.value("backlog") == 6, timeout=5, what="counted")
    assert shipping.shipper.problem() is not None and shipping.value("failures") == 1
    await shipping.stop()


@pytest.mark.parametrize("status", [400, 413])
async def test_an_execution_the_console_refuses_does_not_hold_up_the_others(
    store: Any, console: FakeConsole, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    await console.start()
    ids = finished(store, 9)
    await store.flush()
    console.refuse = {ids[4]}
    if status == 413:  # too large as a batch: refused until alone, then taken
        console.refuse = set()
        console.answers = [413]
    shipping = Shipping(store, console.url)
    expected = set(ids) - console.refuse
    await eventually(lambda: set(console.received) == expected, what="the others arrive")
    await eventually(lambda: shipping.value("backlog") == 0)
    assert shipping.value("rejected") == len(console.refuse)
    if console.refuse:
        refused = [m for m in warnings(caplog) if "refused" in m]
        assert len(refused) == 1 and ids[4] in refused[0] and "executions[" in refused[0]
    assert console.duplicates() == []
    await shipping.stop()


async def test_ship_outbox_empties_it_or_says_why_not(store: Any, console: FakeConsole) -> None:
    ids = finished(store, 3)
    await store.flush()
    dead = f"http://127.0.0.1:{free_port()}"
    problem = await ship_outbox(store, dead, 0.5)
    assert problem is not None and dead in problem
    await console.start()
    assert await ship_outbox(store, console.url, 5) is None
    assert set(console.received) == set(ids)
    assert await store.backlog(console.url) == 0


async def test_the_token_is_sent_and_read_again_for_each_request(
    store: Any, console: FakeConsole, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await console.start()
    token = tmp_path / "token"
    token.write_text("first\n")
    monkeypatch.delenv("WEIR_CONSOLE_TOKEN", raising=False)
    client = ConsoleClient(console.url, token_file=token)
    await client.ingest("r", [])
    token.write_text("rotated")
    await client.ingest("r", [])
    monkeypatch.setenv("WEIR_CONSOLE_TOKEN", "from-env")
    await client.ingest("r", [])
    await client.aclose()
    assert console.tokens == ["Bearer first", "Bearer rotated", "Bearer from-env"]


async def test_local_retention_prunes_only_what_was_shipped(
    store: Any, console: FakeConsole
) -> None:
    from weir.serve.retention import prune_once

    await console.start()
    two_days_ago = time.time() - 2 * 86400
    shipped = finished(store, 3, started=two_days_ago)
    recent = finished(store, 2)
    await store.flush()
    assert await ship_outbox(store, console.url, 5) is None
    unshipped = finished(store, 2, started=two_days_ago)  # recorded late: not shipped yet
    await store.flush()

    assert await prune_once(store, console.url, 86400) == 3
    for execution_id in shipped:
        assert await store.get_execution(execution_id) is None
    for execution_id in recent + unshipped:
        assert await store.get_execution(execution_id) is not None
    assert await prune_once(store, "http://another-console", 86400) == 0  # nothing went there


async def test_a_wake_ships_as_soon_as_the_records_commit(store: Any, console: FakeConsole) -> None:
    await console.start()
    shipping = Shipping(store, console.url)
    shipping.shipper.poll = 30.0  # no looking by itself: only the wake can ship in time
    await asyncio.sleep(0.2)  # idle, waiting
    (execution_id,) = finished(store, 1)  # queued, not committed yet
    shipping.shipper.wake()
    await eventually(lambda: execution_id in console.received, timeout=1, what="shipped")
    await shipping.stop()


def test_console_urls_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from weir.serve.console_client import console_url

    monkeypatch.delenv("WEIR_CONSOLE_URL", raising=False)
    assert console_url(None) is None
    assert console_url("http://console:8090/") == "http://console:8090"
    assert console_url("https://example.test/weir/?x=1") == "https://example.test/weir"
    monkeypatch.setenv("WEIR_CONSOLE_URL", "http://from-env")
    assert console_url(None) == "http://from-env"
    for bad, says in [
        ("console:8090", "http:// or https://"),
        ("http://user:pw@console", "no credentials"),
        ("http://console/" + "x" * 600, "at most 512"),
    ]:
        with pytest.raises(ValueError, match=says):
            console_url(bad)
