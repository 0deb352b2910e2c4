"""The `weir` command as users run it: `weir run` on the hello example, exit codes for failed
executions and unloadable flows, bad `--input`, and `weir executions list/show`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
HELLO = ROOT / "examples" / "hello" / "flow.yaml"


def weir(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "weir.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_weir_run_hello_prints_the_greeting_and_exits_0(tmp_path: Path) -> None:
    done = weir(
        "run", str(HELLO), "--input", '{"name": "Ada"}', "--store", f"sqlite:///{tmp_path}/s.db"
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"greeting": "Hello, Ada!"}
    assert "✓ greet" in done.stderr and "✓ answer" in done.stderr


def test_input_can_come_from_a_file(tmp_path: Path) -> None:
    payload = tmp_path / "input.json"
    payload.write_text('{"name": "Grace"}')
    done = weir("run", str(HELLO), "--input", f"@{payload}", "--no-store")
    assert json.loads(done.stdout) == {"greeting": "Hello, Grace!"}


def test_invalid_input_json_exits_2_with_the_position(tmp_path: Path) -> None:
    done = weir("run", str(HELLO), "--input", '{"name": ', "--no-store")
    assert done.returncode == 2
    assert "--input is not valid JSON" in done.stderr and "line 1 column" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unloadable_flow_exits_2(tmp_path: Path) -> None:
    broken = tmp_path / "flow.yaml"
    broken.write_text(HELLO.read_text().replace("next: answer", "next: nowhere"))
    done = weir("run", str(broken), "--no-store")
    assert done.returncode == 2
    assert "unknown target node 'nowhere'" in done.stderr and "Traceback" not in done.stderr


def test_a_failed_execution_exits_1_and_names_the_node(tmp_path: Path) -> None:
    failing = tmp_path / "flow.yaml"
    failing.write_text(HELLO.read_text().replace("Hello, ${input.name}!", "${input.name + 1}"))
    done = weir("run", str(failing), "--input", '{"name": "Ada"}', "--no-store")
    assert done.returncode == 1
    assert "failed: node 'answer'" in done.stderr
    assert done.stdout == ""


def test_executions_are_listed_and_shown_from_the_store(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/store.db"
    first = weir("run", str(HELLO), "--input", '{"name": "Ada"}', "--store", store)
    assert first.returncode == 0, first.stderr
    listing = weir("executions", "list", "--store", store, "--json")
    assert listing.returncode == 0, listing.stderr
    (execution,) = json.loads(listing.stdout)
    assert execution["flow"] == "hello" and execution["status"] == "succeeded"
    shown = weir("executions", "show", execution["id"][:10], "--store", store)
    assert shown.returncode == 0, shown.stderr
    assert "greet" in shown.stdout and "answer" in shown.stdout
    assert "Hello, Ada!" in shown.stdout


def test_showing_an_unknown_execution_exits_2() -> None:
    done = weir("executions", "show", "doesnotexist", "--store", "sqlite:///:memory:")
    assert done.returncode == 2 and "doesnotexist" in done.stderr


def test_an_execution_is_replayed_in_full_and_from_one_node(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/store.db"
    assert weir("run", str(HELLO), "--input", '{"name": "Ada"}', "--store", store).returncode == 0
    (original,) = json.loads(weir("executions", "list", "--store", store, "--json").stdout)

    full = weir("replay", str(HELLO), original["id"], "--store", store)
    assert full.returncode == 0, full.stderr
    assert json.loads(full.stdout) == {"greeting": "Hello, Ada!"}
    assert "✓ greet" in full.stderr

    partial = weir("replay", str(HELLO), original["id"][:12], "--from", "answer", "--store", store)
    assert partial.returncode == 0, partial.stderr
    assert "greet" not in partial.stderr and "✓ answer" in partial.stderr

    replays = json.loads(weir("executions", "list", "--store", store, "--json").stdout)
    assert len(replays) == 3
    assert [r["replayOf"] for r in replays[:2]] == [original["id"], original["id"]]


def test_replaying_from_an_unknown_node_names_the_nodes(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/store.db"
    weir("run", str(HELLO), "--input", '{"name": "Ada"}', "--store", store)
    (original,) = json.loads(weir("executions", "list", "--store", store, "--json").stdout)
    done = weir("replay", str(HELLO), original["id"], "--from", "answr", "--store", store)
    assert done.returncode == 2
    assert "no node 'answr'; did you mean 'answer'?" in done.stderr
    assert "Traceback" not in done.stderr


def test_replaying_with_another_flow_is_refused(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/store.db"
    weir("run", str(HELLO), "--input", '{"name": "Ada"}', "--store", store)
    (original,) = json.loads(weir("executions", "list", "--store", store, "--json").stdout)
    other = tmp_path / "flow.yaml"
    other.write_text(HELLO.read_text().replace("name: hello", "name: other"))
    done = weir("replay", str(other), original["id"], "--store", store)
    assert done.returncode == 2 and "is of flow 'hello', not 'other'" in done.stderr
