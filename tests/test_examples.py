"""The examples run as their READMEs say, against local servers where they need one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.runner.serving import ROOT, free_port
from tests.servers.services import POSTGRES

EXAMPLES = ROOT / "examples"


def weir(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "weir.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


class Receiver:
    """A local HTTP endpoint in a thread that records what it was sent."""

    def __init__(self, status: int = 201) -> None:
        import asyncio
        import threading

        self.status = status
        self.received: list[dict[str, Any]] = []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def handle(request: web.Request) -> web.Response:
            self.received.append(
                {
                    "path": request.path,
                    "headers": dict(request.headers),
                    "json": await request.json(),
                }
            )
            return web.json_response({"created": True}, status=self.status)

        async def start() -> None:
            app = web.Application()
            app.router.add_post("/{tail:.*}", handle)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
            ready.set()

        self._thread = threading.Thread(
            target=lambda: (self._loop.run_until_complete(start()), self._loop.run_forever()),
            daemon=True,
        )
        self._thread.start()
        ready.wait(10)

    def close(self) -> None:
        async def stop() -> None:
            await self._runner.cleanup()

        import asyncio

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver()
    yield started
    started.close()


def branching_input(crm_url: str) -> str:
    data = json.loads((EXAMPLES / "branching" / "input.json").read_text())
    return json.dumps({**data, "crmUrl": crm_url})


def test_branching_publishes_actives_and_queues_drafts(receiver: Receiver, tmp_path: Path) -> None:
    done = weir(
        "run",
        "examples/branching/flow.yaml",
        "--input",
        branching_input(receiver.url),
        "--store",
        f"sqlite:///{tmp_path}/s.db",
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "statuses": 2,
        "active": 2,
        "published": True,
        "parked": False,
        "toReview": [2, 4],
    }
    (post,) = receiver.received
    assert post["path"] == "/contacts" and [r["id"] for r in post["json"]] == [1, 3]


def test_branching_retries_then_parks_when_the_crm_is_down(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/s.db"
    done = weir(
        "run",
        "examples/branching/flow.yaml",
        "--input",
        branching_input(f"http://127.0.0.1:{free_port()}"),
        "--store",
        store,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["parked"] is True
    listed = json.loads(weir("executions", "list", "--store", store, "--json").stdout)
    shown = weir("executions", "show", listed[0]["id"], "--store", store)
    assert "publish (http) failed" in shown.stdout
    for attempt in (1, 2, 3):
        assert f"attempt {attempt}:" in shown.stdout
    assert "park (log) succeeded" in shown.stdout
    detail = json.loads(
        weir("executions", "show", listed[0]["id"], "--store", store, "--json").stdout
    )
    publish = next(n for n in detail["nodes"] if n["node"] == "publish")
    assert len(publish["attempts"]) == 3
    assert all(a["error"]["type"] == "connection" for a in publish["attempts"])


def test_branching_takes_otherwise_without_active_records(tmp_path: Path) -> None:
    data = {"crmUrl": "http://127.0.0.1:9", "records": [{"id": 9, "status": "draft"}]}
    done = weir("run", "examples/branching/flow.yaml", "--input", json.dumps(data), "--no-store")
    assert done.returncode == 0, done.stderr
    assert "✓ nothing_active" in done.stderr and "publish" not in done.stderr


def test_users_to_crm_posts_the_active_users_with_the_token(
    receiver: Receiver, tmp_path: Path
) -> None:
    POSTGRES.require()
    database = POSTGRES.url
    seeded = subprocess.run(
        ["psql", database, "-q", "-f", str(EXAMPLES / "users-to-crm" / "seed.sql")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert seeded.returncode == 0, seeded.stderr
    store = f"sqlite:///{tmp_path}/s.db"
    done = weir(
        "run",
        "examples/users-to-crm/flow.yaml",
        "--input",
        json.dumps({"crmUrl": receiver.url}),
        "--store",
        store,
        env={"WEIR_SECRET_DB_URL": database, "WEIR_SECRET_CRM_TOKEN": "dev-token-4242"},
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"synced": 3, "contacts": ["user-1", "user-3", "user-5"]}
    posted = sorted(receiver.received, key=lambda r: r["json"]["externalId"])
    assert [p["json"] for p in posted] == [
        {"externalId": "user-1", "name": "Ada Lovelace", "email": "ada@example.org"},
        {"externalId": "user-3", "name": "Grace Hopper", "email": "grace@example.org"},
        {"externalId": "user-5", "name": "Barbara Liskov", "email": "barbara@example.org"},
    ]
    assert {p["headers"]["Authorization"] for p in posted} == {"Bearer dev-token-4242"}
    assert "dev-token-4242" not in done.stderr
    assert b"dev-token-4242" not in (tmp_path / "s.db").read_bytes()


def test_nightly_report_writes_the_csv_of_the_previous_day(tmp_path: Path) -> None:
    import os

    POSTGRES.require()
    database = POSTGRES.url
    seed = EXAMPLES / "nightly-report" / "seed.sql"
    seeded = subprocess.run(
        ["psql", database, "-q", "-f", str(seed)], capture_output=True, text=True
    )
    assert seeded.returncode == 0, seeded.stderr
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "weir.cli",
            "run",
            str(EXAMPLES / "nightly-report" / "flow.yaml"),
            "--trigger",
            "cron",
            "--scheduled-time",
            "2026-11-25T02:00:00+01:00",
            "--no-store",
            "-q",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        env={**os.environ, "WEIR_SECRET_DB_URL": database, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["report"] == "reports/orders-2026-11-25.csv"
    report = (tmp_path / "reports" / "orders-2026-11-25.csv").read_text()
    assert report.splitlines() == ["status,orders,amount", "paid,3,72.9", "refunded,1,12.5"]


def test_code_computes_the_order_summary_and_names_the_failing_line() -> None:
    order = {
        "customer": "Ada",
        "lines": [{"sku": "A1", "qty": 2, "price": 9.5}, {"sku": "B2", "qty": 1, "price": 20}],
    }
    done = weir("run", "examples/code/flow.yaml", "--input", json.dumps(order), "--no-store", "-q")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["customer"], result["items"], result["total"], result["biggest"]) == (
        "ADA",
        3,
        39,
        "B2",
    )
    empty = weir(
        "run",
        "examples/code/flow.yaml",
        "--input",
        '{"customer": "Ada", "lines": []}',
        "--no-store",
        "-q",
    )
    assert empty.returncode == 1
    assert "script failed: Error: order for Ada has no lines (line 2)" in empty.stderr


def test_files_writes_the_report_under_the_base_directory(tmp_path: Path) -> None:
    rows = {"name": "q3", "rows": [{"id": 1, "name": "Ada"}, {"id": 2, "name": "Grace"}]}
    done = weir(
        "run",
        "examples/files/flow.yaml",
        "--input",
        json.dumps(rows),
        "--no-store",
        "-q",
        env={"WEIR_FILE_BASE_DIR": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "weir-reports" / "q3.csv").read_text().splitlines() == [
        "id,name",
        "1,Ada",
        "2,Grace",
    ]
    assert json.loads(done.stdout)["written"]["path"] == "weir-reports/q3.csv"


def test_secret_store_reads_the_database_url_from_the_encrypted_store(tmp_path: Path) -> None:
    env = {
        "WEIR_SECRETS_FILE": str(tmp_path / "secrets.json"),
        "WEIR_SECRETS_KEY_FILE": str(tmp_path / "secrets.key"),
    }
    url = f"sqlite:///{tmp_path}/guestbook.db"
    assert weir("secrets", "init", env=env).returncode == 0
    stored = subprocess.run(
        [sys.executable, "-m", "weir.cli", "secrets", "set", "guestbook", "url"],
        input=url + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        env={**os.environ, **env},
    )
    assert stored.returncode == 0, stored.stderr
    store = f"sqlite:///{tmp_path}/runs.db"
    flow = "examples/secret-store/flow.yaml"
    for name, visits in (("Ada", 1), ("Grace", 2)):
        done = weir("run", flow, "--input", json.dumps({"name": name}), "--store", store, env=env)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == {"signed": name, "visits": visits}
    assert url not in (tmp_path / "secrets.json").read_text()  # encrypted at rest
    listed = weir("executions", "list", "--store", store, "--limit", "1", env=env)
    execution = listed.stdout.splitlines()[1].split()[0]
    shown = weir("executions", "show", execution, "--store", store, env=env)
    assert shown.returncode == 0 and "table" in shown.stdout
    assert url not in shown.stdout + shown.stderr

    elsewhere = {
        "WEIR_SECRETS_FILE": str(tmp_path / "other.json"),
        "WEIR_SECRETS_KEY_FILE": str(tmp_path / "other.key"),
    }
    without = weir("run", flow, "--input", '{"name": "Ada"}', "--no-store", env=elsewhere)
    assert without.returncode == 1
    assert "guestbook" in without.stderr and "Traceback" not in without.stderr
