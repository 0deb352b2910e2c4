"""A FlowRun replay's source: `weir flowrun` reads the original execution from a real console
(`weir console` in this process, over the example flow) or, with no console, from the store;
a patched input replaces the recorded one, a replay from a node reuses the recorded outputs
before it (read from the node records), and patched outputs name nodes of the flow."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.console.client import Api, api_for
from weir.cli.common import UsageError
from weir.cli.flowrun_command import _original, _what_to_run
from weir.console.server import ConsoleOptions, ConsoleServer
from weir.flow.flowrun import parse_spec
from weir.flow.load import load_flow_file

ROOT = Path(__file__).parents[2]
FLOW_FILE = ROOT / "examples" / "flowrun" / "flow.yaml"


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[tuple[ConsoleServer, Api]]:
    options = ConsoleOptions(
        paths=[str(FLOW_FILE)], store=f"sqlite:///{tmp_path}/console.db", port=0, grace=2
    )
    server = ConsoleServer(options)
    await server.start()
    try:
        async for api in api_for(server):
            yield server, api
    finally:
        await server.stop()


def args(store: str | None = None, console: str | None = None) -> argparse.Namespace:
    return argparse.Namespace(store=store, console=console)


async def test_a_replay_with_a_patched_input_reads_the_original_from_the_console(
    console: tuple[ConsoleServer, Api],
) -> None:
    server, api = console
    failed = await api.run("invoice-total", {"customer": "ACME"})  # no amount: refused
    assert (await api.finished(failed))["execution"]["status"] == "failed"
    url = f"http://127.0.0.1:{server.port}"
    record, _nodes = await _original(args(console=url), failed)
    assert record.id == failed and record.flow == "invoice-total"
    assert record.trigger["payload"] == {"customer": "ACME"}
    flow = load_flow_file(str(FLOW_FILE))
    spec = parse_spec(
        {"flowRef": "invoice-total", "replayOf": failed, "input": {"customer": "A", "amount": 1}}
    )
    event, replay = await _what_to_run(args(console=url), spec, flow)
    assert event.payload == {"customer": "A", "amount": 1} and replay.of == failed


async def test_a_replay_from_a_node_reuses_the_outputs_the_console_recorded(
    console: tuple[ConsoleServer, Api],
) -> None:
    server, api = console
    done = await api.run("invoice-total", {"customer": "ACME", "amount": 100})
    assert (await api.finished(done))["execution"]["status"] == "succeeded"
    url = f"http://127.0.0.1:{server.port}"
    flow = load_flow_file(str(FLOW_FILE))
    view = await api.get(f"/api/v1/executions/{done}")
    (check,) = [n for n in view["nodes"] if n["node"] == "check"]
    recorded = (await api.get(f"/api/v1/executions/{done}/nodes/{check['seq']}"))["output"]
    plain = parse_spec({"flowRef": "invoice-total", "replayOf": done, "from": "total"})
    _event, replay = await _what_to_run(args(console=url), plain, flow)
    assert replay.outputs == {"check": recorded} and recorded is not None
    spec = parse_spec(
        {
            "flowRef": "invoice-total",
            "replayOf": done,
            "from": "total",
            "outputs": {"check": {"patched": True}},
        }
    )
    event, replay = await _what_to_run(args(console=url), spec, flow)
    assert replay.start == "total" and replay.outputs == {"check": {"patched": True}}
    assert event.payload == {"customer": "ACME", "amount": 100}
    unknown = parse_spec(
        {"flowRef": "invoice-total", "replayOf": done, "from": "total", "outputs": {"nope": 1}}
    )
    with pytest.raises(UsageError, match="nope"):
        await _what_to_run(args(console=url), unknown, flow)


async def test_an_unknown_execution_is_named_in_the_consoles_answer(
    console: tuple[ConsoleServer, Api],
) -> None:
    server, _ = console
    url = f"http://127.0.0.1:{server.port}"
    with pytest.raises(Exception, match="no execution with id") as caught:
        await _original(args(console=url), "0" * 26)
    assert "0" * 26 in str(caught.value)


async def test_without_a_console_the_original_comes_from_the_store(
    console: tuple[ConsoleServer, Api], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEIR_CONSOLE_URL", raising=False)
    _, api = console
    done = await api.run("invoice-total", {"customer": "ACME", "amount": 3})
    await api.finished(done)
    record, nodes = await _original(args(store=f"sqlite:///{tmp_path}/console.db"), done)
    assert record.id == done and [n.node for n in nodes] == ["check", "total"]
    with pytest.raises(UsageError, match="no execution"):
        await _original(args(store=f"sqlite:///{tmp_path}/console.db"), "1" * 26)
