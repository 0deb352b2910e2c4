"""Fuzzing the flow loader: every example flow, mutated (bit flips, deletions, duplicated spans
and lines, re-indented lines, inserted anchors and aliases, alias bombs, complex and non-string
keys, tags, control characters, deep nesting, broken expressions), either loads or gives a
FlowInvalid whose every issue names the file and says something; never another exception, never
a hang. A few mutants go through `weir validate` too: exit 0 or 1, no traceback.

Hypothesis runs derandomized (the same examples on every run) and bounded to well under a
minute; each example runs in a thread with a time budget, and one that outlives it fails the
test as a hang (a generous bound, not a timing assertion)."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from weir.flow.issues import FlowInvalid
from weir.flow.load import CompiledFlow, decode_flow_text, load_flows_text

ROOT = Path(__file__).parents[2]
SEEDS = [path.read_bytes() for path in sorted(ROOT.glob("examples/*/flow.yaml"))]
HANG_SECONDS = 20.0
FILE = "fuzz.yaml"

SNIPPETS = [
    "&a ",
    "*a",
    "&b {k: v}",
    "<<: *b\n",
    "x: &r [*r]\n",
    "y: &m {<<: *m}\n",
    "? [a, b]\n: c\n",
    "? {a: 1}\n",
    "1: one\n",
    "on: yes\n",
    "~: null\n",
    "2024-02-30: x\n",
    "!!binary AAAA",
    "!!set {a, b}",
    "!!omap [a: 1]",
    "!!int twelve",
    "!!python/object:os.system",
    "!custom x",
    "\x00",
    "\x07",
    "\x1b[31m",
    "\ufeff",
    "\t",
    "%YAML 1.1\n---\n",
    "---\n",
    "...\n",
    "- ",
    ": ",
    "'",
    '"',
    "|\n",
    ">-\n",
    "{",
    "}",
    "[",
    "]",
    "${",
    "$.",
    "$[",
    "${max(1, 2)}",
    "${input.x > 1 &&}",
    "${nodes.nope.rows}",
    "$.inptu.name",
    "input.rows",
    "${" + "(" * 80 + "1" + ")" * 80 + "}",
    "$.input" + ".a" * 3000,
]


def bomb(levels: int) -> str:
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels + 1):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def mutate(rnd: random.Random, data: bytes) -> bytes:
    """One to four mutations of a flow file's bytes."""
    for _ in range(rnd.randint(1, 4)):
        at = rnd.randrange(len(data) + 1)
        op = rnd.randrange(10)
        if op == 0 and data:  # flip one bit
            at = min(at, len(data) - 1)
            data = data[:at] + bytes([data[at] ^ (1 << rnd.randrange(8))]) + data[at + 1 :]
        elif op == 1:  # delete a span
            data = data[:at] + data[at + rnd.randint(1, 60) :]
        elif op == 2:  # duplicate a span elsewhere
            start = rnd.randrange(len(data) + 1)
            data = data[:at] + data[start : start + rnd.randint(1, 120)] + data[at:]
        elif op == 3:  # duplicate, drop or re-indent a line
            lines = data.split(b"\n")
            k = rnd.randrange(len(lines))
            choice = rnd.randrange(3)
            if choice == 0:
                lines.insert(rnd.randrange(len(lines) + 1), lines[k])
            elif choice == 1:
                del lines[k]
            else:
                lines[k] = b" " * rnd.choice([0, 1, 2, 3, 4, 6, 8]) + lines[k].lstrip(b" ")
            data = b"\n".join(lines)
        elif op == 4:  # a snippet anywhere
            data = data[:at] + rnd.choice(SNIPPETS).encode() + data[at:]
        elif op == 5:  # a snippet as a value: after some "key: "
            colons = [i for i in range(len(data)) if data[i : i + 2] == b": "]
            if colons:
                i = rnd.choice(colons) + 2
                end = data.find(b"\n", i)
                end = len(data) if end < 0 else end
                data = data[:i] + rnd.choice(SNIPPETS).encode() + data[end:]
        elif op == 6:  # an anchor on one value and aliases to it elsewhere
            colons = [i for i in range(len(data)) if data[i : i + 2] == b": "]
            if colons:
                first, second = rnd.choice(colons) + 2, rnd.choice(colons) + 2
                name = rnd.choice([b"a", b"b", b"n"])
                if first < second:
                    data = data[:second] + b"*" + name + b" " + data[second:]
                data = data[:first] + b"&" + name + b" " + data[first:]
        elif op == 7:  # deep nesting
            depth = rnd.choice([10, 99, 101, 500, 5000])
            opener, closer = rnd.choice([(b"[", b"]"), (b"{a: ", b"}"), (b"- ", b"")])
            data = data[:at] + opener * depth + b"x" + closer * depth + data[at:]
        elif op == 8:  # an alias bomb, small or large
            data = data + b"\n" + bomb(rnd.choice([2, 4, 6, 9])).encode()
        else:  # any character at all
            data = data[:at] + chr(rnd.randrange(0x30000)).encode("utf-8", "replace") + data[at:]
    return data


def load(data: bytes) -> list[CompiledFlow]:
    return load_flows_text(decode_flow_text(data, FILE), FILE)


def outcome_within(data: bytes, seconds: float = HANG_SECONDS) -> Any:
    """The loader's answer, from a thread; a loader still busy after ``seconds`` is a hang."""
    answer: list[Any] = []

    def target() -> None:
        try:
            answer.append(load(data))
        except BaseException as exc:
            answer.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"the loader hung (> {seconds:g}s) on {data[:300]!r}"
    return answer[0]


def check(data: bytes) -> None:
    result = outcome_within(data)
    if isinstance(result, list):
        assert all(isinstance(flow, CompiledFlow) for flow in result)
        return
    assert isinstance(result, FlowInvalid), (
        f"internal error {type(result).__name__}: {result} on {data[:300]!r}"
    )
    assert result.issues, f"FlowInvalid without issues on {data[:300]!r}"
    for issue in result.issues:
        assert issue.message.strip() and str(issue).strip()
        assert issue.file == FILE, f"issue without its file: {issue}"


@settings(
    max_examples=4000,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(seed=st.sampled_from(SEEDS), rnd=st.randoms(use_true_random=False))
def test_mutated_flows_load_or_give_a_message(seed: bytes, rnd: random.Random) -> None:
    check(mutate(rnd, seed))


def test_every_kind_of_mutation_is_exercised_and_checked() -> None:
    """The same check over a fixed sweep: each seed with each mutation kind, so no kind depends
    on what hypothesis happens to draw."""
    rnd = random.Random(11)
    for seed in SEEDS:
        for _ in range(20):
            check(mutate(rnd, seed))


def test_weir_validate_answers_mutants_with_exit_1_and_no_traceback(tmp_path: Path) -> None:
    rnd = random.Random(3)
    files: list[Path] = []
    while len(files) < 8:
        data = mutate(rnd, rnd.choice(SEEDS))
        try:
            data.decode("utf-8")  # `weir validate` reads text itself
            load(data)
        except FlowInvalid:
            path = tmp_path / f"mutant{len(files)}.yaml"
            path.write_bytes(data)
            files.append(path)
        except UnicodeDecodeError:
            continue
    hostile = {
        "bomb.yaml": bomb(9),
        "recursive.yaml": "spec: &s {nodes: [*s]}\n",
        "complex.yaml": "? [a, b]\n: c\n",
        "control.yaml": "kind: Flow\x07\n",
        "deep.yaml": "spec: " + "[" * 5000 + "]" * 5000 + "\n",
    }
    for name, text in hostile.items():
        (tmp_path / name).write_text(text)
        files.append(tmp_path / name)
    done = subprocess.run(
        [sys.executable, "-m", "weir.cli", "validate", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    for path in files:
        assert f"{path}:" in done.stderr, f"{path.name} is not named in {done.stderr}"
