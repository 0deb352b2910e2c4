"""The `weir` command at its edges: `weir run` exits non-zero and says so when its records could
not be written (a locked store); a closed stdout (`| head -1`) ends a command quietly; `weir
replay --from NODE` is refused, naming what is missing, when NODE cannot run from the recorded
state; an unknown execution id names the candidates; attempts carry `startedAt` as ISO text,
like nodes."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
HELLO = ROOT / "examples" / "hello" / "flow.yaml"

CHAIN = """\
apiVersion: weir.dev/v1alpha1
kind: Flow
metadata: {name: chain}
spec:
  trigger: {manual: {}}
  nodes:
    - name: fetch
      transform: {set: {value: "${input.n * 2}"}}
      next: double
    - name: double
      transform: {set: {value: "${nodes.fetch.value * 2}"}}
      next: done
    - name: done
      transform: {set: {finished: true}}
"""


def weir(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "weir.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def ids(store: str) -> list[str]:
    listing = weir("executions", "list", "--store", store, "--json")
    assert listing.returncode == 0, listing.stderr
    return [execution["id"] for execution in json.loads(listing.stdout)]


# -- 12a: records that could not be written -----------------------------------------------------


def test_run_exits_non_zero_and_says_so_when_its_records_are_lost(tmp_path: Path) -> None:
    database = tmp_path / "s.db"
    store = f"sqlite:///{database}"
    assert weir("run", str(HELLO), "--input", '{"name": "Ada"}', "--store", store).returncode == 0
    lock = sqlite3.connect(database, isolation_level=None)
    try:
        lock.execute("BEGIN IMMEDIATE")  # another writer holds the store
        done = weir(
            "run",
            str(HELLO),
            "--input",
            '{"name": "Grace"}',
            "--store",
            store,
            env={"WEIR_STORE_FLUSH_TIMEOUT": "1"},
        )
    finally:
        lock.close()
    assert done.returncode == 3, done.stderr
    assert json.loads(done.stdout) == {"greeting": "Hello, Grace!"}  # it did run
    assert "could not be written" in done.stderr and "not recorded" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_bad_flush_timeout_is_a_usage_error() -> None:
    done = weir(
        "run",
        str(HELLO),
        "--input",
        '{"name": "A"}',
        "--no-store",
        env={"WEIR_STORE_FLUSH_TIMEOUT": "soon"},
    )
    assert done.returncode == 2 and "WEIR_STORE_FLUSH_TIMEOUT" in done.stderr


@pytest.mark.parametrize(
    ("command", "variable", "value", "message"),
    [
        (["serve", str(HELLO), "--no-store"], "WEIR_GRACE_PERIOD", "abc", "a number of seconds"),
        (["serve", str(HELLO), "--no-store"], "WEIR_PORT", "http", "a port from 0 to 65535"),
        (["console", "--store", "sqlite://"], "WEIR_CONSOLE_PORT", "99999", "a port from 0"),
        (["serve", str(HELLO), "--no-store"], "WEIR_GC_YOUNG", "lots", "a whole number above 0"),
        (["console", "--store", "sqlite://"], "WEIR_GC_YOUNG", "0", "a whole number above 0"),
    ],
)
def test_a_bad_setting_in_the_environment_is_a_usage_error_before_any_port_is_bound(
    command: list[str], variable: str, value: str, message: str
) -> None:
    done = weir(*command, env={variable: value})
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"weir: {variable}={value!r}: give {message}")
    assert weir(*command[:1], "--help", env={variable: value}).returncode == 0


def test_a_bad_record_wait_is_a_usage_error_not_an_internal_one() -> None:
    done = weir("serve", str(HELLO), "--no-store", "--port", "0", env={"WEIR_RECORD_WAIT": "x"})
    assert done.returncode == 2
    assert done.stderr == "weir: WEIR_RECORD_WAIT='x': give a number of seconds above 0\n"


# -- 17: a closed stdout ----------------------------------------------------------------------


def test_a_closed_stdout_ends_executions_show_quietly(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/s.db"
    assert weir("run", str(HELLO), "--input", '{"name": "Ada"}', "--store", store).returncode == 0
    (execution,) = ids(store)
    for extra in ([], ["--json"]):
        process = subprocess.Popen(
            [sys.executable, "-m", "weir.cli", "executions", "show", execution, *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "WEIR_STORE": store},
        )
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()  # the reader is gone before anything is written, as `| head -0`
        stderr = process.stderr.read().decode()
        code = process.wait(timeout=120)
        assert stderr == "", stderr
        assert code == 141  # 128 + SIGPIPE, what a shell reports for a Unix tool in this place


# -- 18b: replaying from a node the recorded state cannot feed --------------------------------


def test_replay_from_a_node_whose_input_was_never_recorded_is_refused(tmp_path: Path) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text(CHAIN)
    store = f"sqlite:///{tmp_path}/s.db"
    failed = weir("run", str(flow), "--input", '{"n": "x"}', "--store", store)
    assert failed.returncode == 1 and "node 'fetch'" in failed.stderr
    (execution,) = ids(store)

    reads = weir("replay", str(flow), execution, "--from", "double", "--store", store)
    assert reads.returncode == 2, reads.stderr
    assert "cannot replay from 'double'" in reads.stderr
    assert "reads the output of 'fetch'" in reads.stderr and "'fetch' failed" in reads.stderr

    unreached = weir("replay", str(flow), execution, "--from", "done", "--store", store)
    assert unreached.returncode == 2, unreached.stderr
    assert "cannot replay from 'done'" in unreached.stderr
    assert "never reached it" in unreached.stderr and "'double' did not run" in unreached.stderr
    assert ids(store) == [execution]  # nothing ran

    # From the failed node itself the recorded state is enough (the trigger payload).
    again = weir("replay", str(flow), execution, "--from", "fetch", "--store", store)
    assert again.returncode == 1 and "node 'fetch'" in again.stderr


def test_replay_from_a_node_after_a_successful_run_still_works(tmp_path: Path) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text(CHAIN)
    store = f"sqlite:///{tmp_path}/s.db"
    assert weir("run", str(flow), "--input", '{"n": 2}', "--store", store).returncode == 0
    (execution,) = ids(store)
    for node in ("double", "done"):
        done = weir("replay", str(flow), execution, "--from", node, "--store", store)
        assert done.returncode == 0, done.stderr


HANDLED = """\
apiVersion: weir.dev/v1alpha1
kind: Flow
metadata: {name: handled}
spec:
  trigger: {manual: {}}
  nodes:
    - name: fetch
      transform: {set: {value: "${input.n * 2}"}}
      onError: report
    - name: report
      transform: {set: {failed: "${error.node}", why: "${error.message}"}}
"""


def test_replay_from_an_error_handler_that_reads_the_error_is_refused(tmp_path: Path) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text(HANDLED)
    store = f"sqlite:///{tmp_path}/s.db"
    handled = weir("run", str(flow), "--input", '{"n": "x"}', "--store", store)
    assert handled.returncode == 0, handled.stderr
    assert json.loads(handled.stdout)["failed"] == "fetch"
    (execution,) = ids(store)

    refused = weir("replay", str(flow), execution, "--from", "report", "--store", store)
    assert refused.returncode == 2, refused.stderr
    assert "cannot replay from 'report': it reads $.error" in refused.stderr
    assert "replay from 'fetch', or in full" in refused.stderr
    assert ids(store) == [execution]  # nothing ran

    again = weir("replay", str(flow), execution, "--from", "fetch", "--store", store)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["failed"] == "fetch"


# -- 18c: unknown execution ids name the candidates -------------------------------------------


def test_an_unknown_execution_id_names_the_candidates(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/s.db"
    for name in ("Ada", "Grace"):
        weir("run", str(HELLO), "--input", json.dumps({"name": name}), "--store", store)
    known = ids(store)
    assert len(known) == 2
    for command in (["executions", "show"], ["replay", str(HELLO)]):
        done = weir(*command, "zz-no-such-id", "--store", store)
        assert done.returncode == 2, done.stderr
        assert "no execution with id 'zz-no-such-id'" in done.stderr
        assert all(id in done.stderr for id in known), done.stderr
        typo = known[0][:-1] + ("0" if known[0][-1] != "0" else "1")
        close = weir(*command, typo, "--store", store)
        assert close.returncode == 2 and f"did you mean '{known[0]}'?" in close.stderr


def test_an_unknown_id_in_an_empty_store_says_the_store_is_empty(tmp_path: Path) -> None:
    done = weir("executions", "show", "abc", "--store", f"sqlite:///{tmp_path}/empty.db")
    assert done.returncode == 2
    assert "no executions are recorded in" in done.stderr and "empty.db" in done.stderr


# -- 18d: attempt startedAt as ISO text ---------------------------------------------------------


def test_attempts_and_nodes_both_carry_started_at_as_iso_text(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/s.db"
    assert weir("run", str(HELLO), "--input", '{"name": "Ada"}', "--store", store).returncode == 0
    (execution,) = ids(store)
    shown = json.loads(weir("executions", "show", execution, "--json", "--store", store).stdout)
    for node in shown["nodes"]:
        (attempt,) = node["attempts"]
        assert isinstance(attempt["startedAt"], str), attempt
        started = dt.datetime.fromisoformat(attempt["startedAt"])
        assert started.tzinfo is not None
        assert started >= dt.datetime.fromisoformat(node["startedAt"])
