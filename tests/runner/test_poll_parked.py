"""A files trigger whose flow sleeps (parks durably) under `weir serve`: a parked execution
frees its place in ``concurrency``, and its file is deleted (``after``) only once the runner's
waker resumed it and it succeeded."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
import yaml

from tests.runner.serving import Served

pytestmark = pytest.mark.timeout(60)


def statuses(store: Path) -> list[str]:
    try:
        with sqlite3.connect(store, timeout=10) as db:
            return [row[0] for row in db.execute("SELECT status FROM weir_executions")]
    except sqlite3.OperationalError:
        return []


def wait_for(check: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_parked_execution_frees_its_slot_and_its_file_goes_once_it_ends(
    tmp_path: Path,
) -> None:
    inbox = tmp_path / "in"
    inbox.mkdir()
    flow = {
        "apiVersion": "weir.dev/v1alpha1",
        "kind": "Flow",
        "metadata": {"name": "parked-arrivals"},
        "spec": {
            "trigger": {
                "files": {
                    "local": {"baseDir": str(tmp_path)},
                    "path": "in",
                    "settle": "0s",
                    "interval": "100ms",
                    "concurrency": 1,
                    "after": "delete",
                }
            },
            "nodes": [
                {"name": "nap", "sleep": {"for": "1s"}, "next": "done"},
                {"name": "done", "log": {"message": "${input.name} done"}},
            ],
        },
    }
    (tmp_path / "flow.yaml").write_text(yaml.safe_dump(flow))
    store = tmp_path / "store.db"
    served = Served(tmp_path / "flow.yaml", "--store", f"sqlite:///{store}")
    try:
        served.wait_ready()
        (inbox / "a.csv").write_text("a")
        (inbox / "b.csv").write_text("b")
        # Both park although concurrency is 1: a waiting execution holds no place.
        wait_for(lambda: statuses(store).count("waiting") == 2)
        assert sorted(p.name for p in inbox.iterdir()) == ["a.csv", "b.csv"]
        wait_for(lambda: statuses(store) == ["succeeded", "succeeded"])
        wait_for(lambda: not any(inbox.iterdir()))
    finally:
        served.terminate()
