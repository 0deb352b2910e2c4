"""The web console's files served by `weir console` (weir/console/ui.py): the app at ``/`` and at
every deep link, its hashed assets cached for good, the API untouched, and a page saying how to
build the app when it is not built."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.console.client import start_console
from weir.console.ui import DEFAULT_UI, UI_ENV, ui_directory

INDEX = '<!doctype html><title>Weir</title><script type="module" src="/assets/index-abc123.js">'
SCRIPT = "console.log('weir');\n"


@pytest.fixture
def built(tmp_path: Path) -> Path:
    """A build as `vite build` lays it out: index.html and hashed files under assets/."""
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text(INDEX)
    (dist / "assets" / "index-abc123.js").write_text(SCRIPT)
    (dist / "favicon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (tmp_path / "secret.txt").write_text("outside the build")
    return dist


async def _session(tmp_path: Path) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    server = await start_console(f"sqlite:///{tmp_path}/console.db")
    try:
        async with aiohttp.ClientSession() as session:
            yield session, f"http://127.0.0.1:{server.port}"
    finally:
        await server.stop()


@pytest.fixture
async def site(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    monkeypatch.setenv(UI_ENV, str(built))
    async for pair in _session(tmp_path):
        yield pair


async def _get(
    site: tuple[aiohttp.ClientSession, str], path: str
) -> tuple[int, str, dict[str, str]]:
    session, base = site
    async with session.get(base + path) as response:
        return response.status, await response.text(), dict(response.headers)


async def test_the_app_at_the_root_and_at_every_deep_link(
    site: tuple[aiohttp.ClientSession, str],
) -> None:
    for path in ("/", "/executions?status=failed&q=Ada", "/executions/01ABC", "/no/such/page"):
        status, body, headers = await _get(site, path)
        assert (status, body) == (200, INDEX), path
        assert headers["Content-Type"].startswith("text/html"), path
        assert headers["Cache-Control"] == "no-cache", path


async def test_hashed_assets_are_cached_for_good_other_files_revalidated(
    site: tuple[aiohttp.ClientSession, str],
) -> None:
    status, body, headers = await _get(site, "/assets/index-abc123.js")
    assert (status, body) == (200, SCRIPT)
    assert "javascript" in headers["Content-Type"]
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert headers["X-Content-Type-Options"] == "nosniff"

    status, _, headers = await _get(site, "/favicon.svg")
    assert status == 200
    assert headers["Content-Type"] == "image/svg+xml"
    assert headers["Cache-Control"] == "no-cache"


async def test_a_missing_asset_is_a_404_not_the_app(
    site: tuple[aiohttp.ClientSession, str],
) -> None:
    status, body, headers = await _get(site, "/assets/index-OLDBUILD.js")
    assert status == 404
    assert headers["Content-Type"] == "application/problem+json"
    assert "no endpoint at /assets/index-OLDBUILD.js" in body


async def test_no_file_outside_the_build(site: tuple[aiohttp.ClientSession, str]) -> None:
    for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/assets/..%2f..%2fsecret.txt"):
        status, body, _ = await _get(site, path)
        assert "outside the build" not in body, path
        assert status in (200, 404), path


async def test_the_api_keeps_its_answers(site: tuple[aiohttp.ClientSession, str]) -> None:
    status, body, headers = await _get(site, "/api/v1/flows")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert '"items"' in body

    for path in ("/api/v1/no-such-endpoint", "/api/v2/flows", "/api"):
        status, body, headers = await _get(site, path)
        assert status == 404, path
        assert headers["Content-Type"] == "application/problem+json", path
        assert f"no endpoint at {path}" in body, path

    # a client given a wrong base URL, or asking for JSON only, hears 404, not the app's page
    session, base = site
    for path, accept in (("/proxy/api/v1/executions", "*/*"), ("/executions", "application/json")):
        async with session.get(base + path, headers={"Accept": accept}) as response:
            assert response.status == 404, path
            assert response.content_type == "application/problem+json", path
    async with session.get(base + "/executions", headers={"Accept": "text/html"}) as response:
        assert response.status == 200 and await response.text() == INDEX

    status, body, _ = await _get(site, "/healthz")
    assert status == 200 and '"ok"' in body

    async with session.post(base + "/executions") as response:
        assert response.status == 405
        assert response.content_type == "application/problem+json"


async def test_without_a_build_the_root_says_how_to_make_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "not-built"
    monkeypatch.setenv(UI_ENV, str(missing))
    async for site in _session(tmp_path):
        for path in ("/", "/executions"):
            status, body, headers = await _get(site, path)
            assert status == 503, path
            assert headers["Content-Type"].startswith("text/html"), path
            assert "make console-ui" in body and str(missing) in body, path
        status, _, _ = await _get(site, "/api/v1/flows")
        assert status == 200


async def test_a_build_made_while_the_console_runs_is_served(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    later = tmp_path / "later"
    monkeypatch.setenv(UI_ENV, str(later))
    async for site in _session(tmp_path):
        status, _, _ = await _get(site, "/")
        assert status == 503
        built.rename(later)
        status, body, _ = await _get(site, "/")
        assert (status, body) == (200, INDEX)


def test_the_build_directory_defaults_to_the_checkouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(UI_ENV, raising=False)
    assert ui_directory() == DEFAULT_UI
    assert Path(__file__).resolve().parents[2] / "console-ui" / "dist" == DEFAULT_UI
    monkeypatch.setenv(UI_ENV, "/srv/weir-ui")
    assert ui_directory() == Path("/srv/weir-ui")


async def test_a_directory_given_by_option_wins_over_the_environment(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(UI_ENV, str(tmp_path / "not-there"))
    server = await start_console(f"sqlite:///{tmp_path}/console.db", ui=str(built))
    try:
        url = f"http://127.0.0.1:{server.port}/executions"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            assert response.status == 200 and await response.text() == INDEX
    finally:
        await server.stop()


def test_the_command_refuses_a_ui_directory_without_an_app(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from weir.cli import main

    assert main(["console", "--ui", str(tmp_path), "--port", "0"]) == 2
    error = capsys.readouterr().err
    assert error == f"weir: --ui {tmp_path}: no index.html there (build it: make console-ui)\n"
