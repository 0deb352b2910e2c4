"""`weir store upgrade` brings a store to the newest schema revision and says what it did; a
store whose schema this Weir does not know, or one that cannot be reached, is a clear error
with exit code 4 from every command that opens it, never an internal error."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

from weir.store.migrations import HEAD

ROOT = Path(__file__).parents[1]
HELLO = ROOT / "examples" / "hello" / "flow.yaml"
STORE_UNUSABLE = 4


def weir(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "weir.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "WEIR_DEBUG": ""},
    )


def revision(database: Path) -> str:
    with sqlite3.connect(database) as connection:
        (found,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    return str(found)


def test_store_upgrade_creates_or_upgrades_the_schema_and_says_so(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/s.db"
    first = weir("store", "upgrade", "--store", store)
    assert first.returncode == 0, first.stderr
    assert (
        first.stdout.strip()
        == f"{store}: schema upgraded from an empty database to revision {HEAD}"
    )
    assert revision(tmp_path / "s.db") == HEAD
    again = weir("store", "upgrade", "--store", store)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == f"{store}: schema revision {HEAD}, the newest; nothing to do"


def test_a_store_from_a_newer_weir_is_a_clear_error_in_every_command(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/s.db"
    assert weir("store", "upgrade", "--store", store).returncode == 0
    with sqlite3.connect(tmp_path / "s.db") as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")
    for command in (
        ["store", "upgrade"],
        ["executions", "list"],
        ["run", str(HELLO), "--input", '{"name": "Ada"}', "--quiet"],
        ["serve", str(HELLO), "--port", "0"],
    ):
        done = weir(*command, "--store", store)
        assert done.returncode == STORE_UNUSABLE, (command, done.stderr)
        assert "schema revision '9999'" in done.stderr and "newer Weir" in done.stderr, command
        assert "internal error" not in done.stderr and "Traceback" not in done.stderr
    assert revision(tmp_path / "s.db") == "9999"  # left as it was


def test_an_unreachable_store_is_a_clear_error_without_its_password() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql://weir:hunter2-canary@127.0.0.1:{port}/weir"
    for command in (["store", "upgrade"], ["executions", "list"]):
        done = weir(*command, "--store", url)
        assert done.returncode == STORE_UNUSABLE, done.stderr
        assert (
            f"cannot open the execution store at postgresql://weir:***@127.0.0.1:{port}/weir"
            in (done.stderr)
        )
        assert "hunter2-canary" not in done.stderr and "internal error" not in done.stderr
