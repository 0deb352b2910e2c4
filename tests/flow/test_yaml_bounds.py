"""The YAML reader under hostile and broken input: alias bombs, recursive aliases, deep nesting,
oversized files, reader errors, complex and non-string keys and unreadable scalars each give a
FlowInvalid naming file and line, quickly; merge keys and modest aliases still work."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from weir.flow.issues import FlowInvalid
from weir.flow.load import load_flow_file, load_flows_text
from weir.flow.yamlsrc import MAX_ALIAS_NODES, MAX_DEPTH, MAX_TEXT_BYTES

HEADER = "apiVersion: weir.dev/v1alpha1\nkind: Flow\nmetadata: {name: hostile}\n"
VALID_SPEC = "spec:\n  trigger: {manual: {}}\n  nodes:\n    - name: a\n      log: {message: hi}\n"


def alias_bomb(levels: int, width: int = 9) -> str:
    """The "billion laughs": each anchor is a list of ``width`` aliases of the one before."""
    lines = [HEADER.rstrip("\n"), "spec:", "  trigger: {manual: {}}", "  nodes:", "    - name: a"]
    lines.append("      log: {message: hi}")
    lines.append("      description: &l0 lol")
    for level in range(1, levels + 1):
        refs = ", ".join(f"*l{level - 1}" for _ in range(width))
        lines.append(f"      x{level}: &l{level} [{refs}]")
    return "\n".join(lines) + "\n"


def loaded_within(text: str, seconds: float = 10.0) -> FlowInvalid | Any:
    """Load ``text`` in a thread; fail the test if the loader has not answered in time."""
    outcome: list[Any] = []

    def target() -> None:
        try:
            outcome.append(load_flows_text(text, "flow.yaml"))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"the loader did not answer within {seconds}s"
    return outcome[0]


def issue_of(text: str) -> str:
    result = loaded_within(text)
    assert isinstance(result, FlowInvalid), f"expected FlowInvalid, got {type(result).__name__}"
    assert result.issues
    return str(result.issues[0])


def test_a_moderate_alias_bomb_is_refused_naming_the_alias_line() -> None:
    started = time.monotonic()
    message = issue_of(alias_bomb(levels=6))  # 9**6 = 531,441 values once expanded
    assert message.startswith("flow.yaml:14: ")  # x5's aliases are the first to expand too far
    assert f"YAML aliases expand to more than {MAX_ALIAS_NODES:,} values" in message
    assert time.monotonic() - started < 5


def test_the_full_alias_bomb_is_refused_at_once_by_weir_validate(tmp_path: Path) -> None:
    """9 levels of 9 aliases: minutes and gigabytes before the bound; a subprocess so that a
    regression is killed by the timeout instead of eating the machine."""
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(alias_bomb(levels=9))
    assert bomb.stat().st_size < 1024
    done = subprocess.run(
        [sys.executable, "-m", "weir.cli", "validate", str(bomb)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert f"{bomb}:14: YAML aliases expand to more than" in done.stderr
    assert "Traceback" not in done.stderr


def test_aliases_below_the_bound_load_as_copies() -> None:
    text = HEADER + (
        "spec:\n"
        "  trigger: {manual: {}}\n"
        "  nodes:\n"
        "    - name: a\n"
        "      log: &log {message: hi}\n"
        "      next: b\n"
        "    - name: b\n"
        "      log: *log\n"
    )
    flows = loaded_within(text)
    assert [node.kind for node in flows[0].flow.spec.nodes] == ["log", "log"]


def test_merge_keys_merge_with_explicit_keys_winning() -> None:
    text = HEADER + (
        "spec:\n"
        "  trigger: {manual: {}}\n"
        "  nodes:\n"
        "    - &base\n"
        "      name: a\n"
        "      log: {message: hi}\n"
        "      retry: {maxAttempts: 5}\n"
        "      next: b\n"
        "    - <<: *base\n"
        "      name: b\n"
        "      next: []\n"
    )
    nodes = loaded_within(text)[0].flow.spec.nodes
    assert [(n.name, n.retry.maxAttempts, n.next) for n in nodes] == [
        ("a", 5, ["b"]),
        ("b", 5, []),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            HEADER + "spec: &s\n  trigger: {manual: {}}\n  nodes: [*s]\n",
            "flow.yaml:6: YAML alias refers to a collection that contains it",
            id="recursive alias",
        ),
        pytest.param(
            HEADER + "x: &m\n  <<: *m\n" + VALID_SPEC,
            "flow.yaml:5: YAML alias refers to a collection that contains it",
            id="recursive merge",
        ),
        pytest.param(
            HEADER + "? [a, b]\n: 1\n" + VALID_SPEC,
            "flow.yaml:4: a mapping key must be a plain string, not a list or a mapping",
            id="complex key",
        ),
        pytest.param(
            HEADER + VALID_SPEC + "      200: ok\n",
            "flow.yaml:9: the mapping key '200' reads as a number; keys are strings, quote it: '200'",
            id="number key",
        ),
        pytest.param(
            HEADER + VALID_SPEC + "      on: true\n",
            "flow.yaml:9: the mapping key 'on' reads as a boolean; keys are strings, quote it: 'on'",
            id="boolean key",
        ),
        pytest.param(
            HEADER + VALID_SPEC.replace("hi}", "hi\x07}"),
            "flow.yaml:8: YAML syntax error: special characters are not allowed (#x0007)",
            id="non-printable character",
        ),
        pytest.param(
            HEADER + VALID_SPEC + "      description: " + "[" * 500 + "]" * 500 + "\n",
            f"flow.yaml:9: YAML nests more than {MAX_DEPTH} levels deep",
            id="deep nesting",
        ),
        pytest.param(
            HEADER
            + "".join(f"a{i}: &a{i} [{f'*a{i - 1}' if i else 1}]\n" for i in range(2 * MAX_DEPTH))
            + VALID_SPEC,
            f"YAML nests more than {MAX_DEPTH} levels deep",
            id="deep nesting through aliases",
        ),
        pytest.param(
            HEADER + VALID_SPEC + "      description: 2024-02-30\n",
            "flow.yaml:9: cannot read '2024-02-30' as timestamp: day is out of range for month",
            id="impossible date",
        ),
        pytest.param(
            HEADER + VALID_SPEC + "      description: !!int twelve\n",
            "flow.yaml:9: cannot read 'twelve' as int",
            id="bad int tag",
        ),
        pytest.param(
            HEADER + VALID_SPEC + "      description: !!set {a, b}\n",
            "flow.yaml:9: unsupported YAML tag 'tag:yaml.org,2002:set' on a mapping",
            id="set tag",
        ),
        pytest.param(
            HEADER + VALID_SPEC + "# " + "x" * MAX_TEXT_BYTES + "\n",
            "flow.yaml: the file is 1.0 MiB; flow files are limited to 1 MiB",
            id="oversized file",
        ),
    ],
)
def test_hostile_yaml_is_a_message_with_file_and_line(text: str, expected: str) -> None:
    assert expected in issue_of(text)


def test_a_file_that_is_not_utf8_is_a_message_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_bytes(HEADER.encode() + b"spec: caf\xe9\n")
    with pytest.raises(FlowInvalid) as caught:
        load_flow_file(path)
    assert str(caught.value) == f"{path}:4: the file is not UTF-8 text: byte 0xe9 cannot be read"
