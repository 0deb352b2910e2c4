"""examples/file-arrival: a CSV dropped into inbox/ is read, turned into rows and moved to
done/ once its execution succeeded; a file of another pattern stays."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.runner.polling import close, poller, started, until

pytestmark = pytest.mark.timeout(30)

FLOW = Path(__file__).parents[2] / "examples" / "file-arrival" / "flow.yaml"


async def test_a_dropped_csv_is_read_and_moved_to_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEIR_FILE_BASE_DIR", str(tmp_path))
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "people.csv").write_text("id,name\n1,Ada\n2,Grace\n")
    (tmp_path / "inbox" / "notes.txt").write_text("not a csv")
    store = tmp_path / "store.db"
    runtime = await poller(FLOW, store)
    await runtime.start()
    await until(lambda: (tmp_path / "done" / "people.csv").exists(), timeout=15)
    await close(runtime)
    assert [p["path"] for p in started(store)] == ["inbox/people.csv"]
    with sqlite3.connect(store) as db:
        ((status, result),) = db.execute("SELECT status, result FROM weir_executions").fetchall()
    assert status == "succeeded"
    assert json.loads(result) == {
        "file": "people.csv",
        "rows": [{"id": "1", "name": "Ada"}, {"id": "2", "name": "Grace"}],
    }
    assert sorted(p.name for p in (tmp_path / "inbox").iterdir()) == ["notes.txt"]
