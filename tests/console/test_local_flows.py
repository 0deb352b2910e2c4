"""Local mode's flows: files and directories, a file read again when it changes, a directory's
YAML that declares no Flow ignored, an invalid flow listed with why, a name defined twice."""

from __future__ import annotations

import os
from pathlib import Path

from weir.console.flows import LocalFlows

HELLO = (Path(__file__).parents[2] / "examples" / "hello" / "flow.yaml").read_text()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


async def test_a_directory_serves_the_flows_it_holds_as_they_are_now(tmp_path: Path) -> None:
    flow = write(tmp_path / "a" / "hello.yaml", HELLO)
    write(tmp_path / "a" / "values.yaml", "replicas: 2\n")  # no Flow: not listed
    flows = LocalFlows([tmp_path])
    (entry,) = await flows.entries()
    assert entry.name == "hello" and entry.status == "Ready" and entry.compiled is not None
    assert entry.trigger == "manual" and entry.spec["nodes"][0]["name"] == "greet"

    write(flow, HELLO.replace("name: hello", "name: hello-again"))
    os.utime(flow, ns=(1, 1))  # a new mtime, whatever the clock's resolution
    (entry,) = await flows.entries()
    assert entry.name == "hello-again"
    assert await flows.get("", "hello") is None
    assert await flows.get("some-namespace", "hello-again") is None


async def test_invalid_and_duplicate_flows_are_listed_with_the_reason(tmp_path: Path) -> None:
    write(tmp_path / "one.yaml", HELLO)
    write(tmp_path / "two.yaml", HELLO)
    write(
        tmp_path / "bad.yaml",
        HELLO.replace("name: bad-flow", "")
        .replace("hello", "bad-flow")
        .replace("transform:", "teleport:"),
    )
    named = write(tmp_path / "elsewhere" / "notes.yaml", "just: notes\n")
    flows = {flow.name: flow for flow in await LocalFlows([tmp_path, named]).entries()}
    assert flows["hello"].status == "Ready"
    (duplicate,) = [c for c in flows["hello"].conditions if c["reason"] == "Duplicate"]
    assert "two.yaml" in duplicate["message"]
    bad = flows["bad-flow"]
    assert (
        bad.status == "Invalid"
        and bad.compiled is None
        and "teleport" in bad.conditions[0]["message"]
    )
    notes = flows["notes"]  # named explicitly: said to be no flow, not skipped
    assert notes.status == "Invalid" and "notes.yaml" in notes.conditions[0]["message"]
