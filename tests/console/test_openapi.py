"""The served OpenAPI document describes what is served: schemathesis generates requests from
it (valid and invalid ones, a bounded number per operation) against a console on a real port,
and every response must be no server error, with a documented status, content type and body.

The event stream and the cancellations long poll are left out: one never ends, the other waits
by design; tests/console/test_events.py and test_ingest.py cover them."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.console.client import start_console
from weir.console.routes import ROUTES, Route

LEFT_OUT = r"/api/v1/(events|cancellations)$"
EXAMPLES = 25
"""Per operation and generation mode: the whole test stays well under a minute."""


class ConsoleThread:
    """A console on its own event loop in a thread, for a synchronous HTTP client."""

    def __init__(self, store: str) -> None:
        self.port: int | None = None
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, args=(store,), daemon=True)
        self._thread.start()
        assert self._ready.wait(30), "the console did not start"

    def _run(self, store: str) -> None:
        async def main() -> None:
            server = await start_console(store)
            self.port, self._stop = server.port, asyncio.Event()
            self._ready.set()
            try:
                await self._stop.wait()
            finally:
                await server.stop()

        self._loop.run_until_complete(main())

    def close(self) -> None:
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleThread]:
    path: Path = tmp_path_factory.mktemp("openapi") / "console.db"
    console = ConsoleThread(f"sqlite:///{path}")
    yield console
    console.close()


@pytest.fixture(scope="module")
def api_schema(served: ConsoleThread) -> Any:
    return schemathesis.openapi.from_url(f"http://127.0.0.1:{served.port}/api/v1/openapi.json")


TESTED = [
    (route, mode)
    for route in ROUTES
    if not re.search(LEFT_OUT, route.path)
    for mode in schemathesis.GenerationMode
    # Invalid requests exist only where something is typed: a query, a body, a number.
    if mode == schemathesis.GenerationMode.POSITIVE
    or route.query
    or route.body
    or "{seq}" in route.path
]


@pytest.mark.parametrize(
    ("route", "mode"),
    TESTED,
    ids=lambda item: f"{item.method} {item.path}" if isinstance(item, Route) else str(item),
)
def test_every_operation_answers_as_documented(
    api_schema: Any, route: Route, mode: schemathesis.GenerationMode
) -> None:
    operation = api_schema[route.path][route.method]

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def answers_as_documented(case: Any) -> None:
        case.call_and_validate(
            excluded_checks=[schemathesis.checks.positive_data_acceptance], timeout=10
        )

    answers_as_documented()


def test_the_document_lists_every_route(served: ConsoleThread) -> None:
    import httpx

    document = httpx.get(f"http://127.0.0.1:{served.port}/api/v1/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    documented = {
        (method.upper(), path) for path, ops in document["paths"].items() for method in ops
    }
    assert documented == {(route.method, route.path) for route in ROUTES}
    for path, operations in document["paths"].items():
        for operation in operations.values():
            assert operation["responses"], path
