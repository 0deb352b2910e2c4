"""How ``store-v0.1.0.sqlite`` and ``store-v0.1.0.json`` were made: a store written by the code
from before schema migrations (commit 8b1a4f7, whose store created its tables directly and
had no ``alembic_version`` table).

Run from a checkout of that commit (``git worktree add /tmp/old 8b1a4f7``), with its own
virtualenv::

    python tests/store/data/make_store_v0_1_0.py tests/store/data

It runs real flows through the CLI (a success, a failure after retries, a replay of that
failure) into a fresh SQLite file, then writes what that same code reads back to the JSON file.
``tests/store/test_migrations.py`` checks that the current code reads the file back identically.
Run with current code it would make a migrated store instead: keep the committed files.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HELLO = """\
apiVersion: weir.dev/v1alpha1
kind: Flow
metadata: {name: hello}
spec:
  trigger:
    manual: {}
  nodes:
    - name: greet
      log: {message: "greeting ${input.name}"}
      next: answer
    - name: answer
      transform:
        set: {greeting: "Hello, ${input.name}!"}
"""

FAILING = """\
apiVersion: weir.dev/v1alpha1
kind: Flow
metadata: {name: read-missing}
spec:
  trigger:
    manual: {}
  nodes:
    - name: prepare
      transform:
        set: {path: $.input.path}
      next: read
    - name: read
      retry: {maxAttempts: 3, initialDelay: 10ms, jitter: false, retryOn: [any]}
      file:
        baseDir: "."
        read: {path: "${nodes.prepare.path}"}
"""


def _weir(work: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "weir.cli", *args, "--quiet"],
        capture_output=True,
        text=True,
        cwd=work,
    )


async def _dump(url: str) -> list[dict[str, object]]:
    from weir.store import open_store

    store = open_store(url)
    await store.start()
    try:
        dumped = []
        for record in reversed(await store.list_executions(limit=100)):
            found = await store.get_execution(record.id)
            assert found is not None
            execution, nodes = found
            dumped.append(
                {
                    "execution": dataclasses.asdict(execution),
                    "nodes": [dataclasses.asdict(node) for node in nodes],
                }
            )
        return dumped
    finally:
        await store.aclose()


def main(out: Path) -> None:
    database = out / "store-v0.1.0.sqlite"
    database.unlink(missing_ok=True)
    url = f"sqlite:///{database.resolve()}"
    with tempfile.TemporaryDirectory() as work:
        Path(work, "hello.yaml").write_text(HELLO)
        Path(work, "failing.yaml").write_text(FAILING)
        for name in ("Ada", "Zoë"):
            ran = _weir(
                work, "run", "hello.yaml", "--input", json.dumps({"name": name}), "--store", url
            )
            assert ran.returncode == 0, ran.stderr
        missing = json.dumps({"path": "missing.txt"})
        failed = _weir(work, "run", "failing.yaml", "--input", missing, "--store", url)
        assert failed.returncode != 0, failed.stdout
        failed_id = next(
            d["execution"]["id"]  # type: ignore[index]
            for d in asyncio.run(_dump(url))
            if d["execution"]["status"] == "failed"  # type: ignore[index]
        )
        replay = _weir(
            work, "replay", "failing.yaml", str(failed_id), "--from", "read", "--store", url
        )
        assert replay.returncode != 0, replay.stdout
    dumped = asyncio.run(_dump(url))
    (out / "store-v0.1.0.json").write_text(
        json.dumps(dumped, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    )
    # The WAL is checkpointed on close; leave one self-contained file.
    for extra in ("-wal", "-shm"):
        Path(f"{database}{extra}").unlink(missing_ok=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
