"""The console's access checks over real HTTP: token extraction, loopback, problem bodies, an
unreachable API server (503, never allowed) and the review caches. The decisions themselves
are the API server's: tests/kube/test_access_rbac.py asks a real one."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.servers.ports import free_port
from weir.console.access import (
    READ,
    RUN,
    SHIP,
    USER_KEY,
    Access,
    KubernetesAccess,
    OpenAccess,
)
from weir.kube.access import TtlCache
from weir.kube.client import Kube

PEER_HEADER = "X-Test-Peer"
"""Sets the request's remote address as a trusted proxy's middleware would."""


def access_app(access: Access) -> web.Application:
    """Three routes guarded the way the console's are: read, run, and a cross-namespace list."""

    def peer(request: web.Request) -> web.Request:
        remote = request.headers.get(PEER_HEADER)
        return request.clone(remote=remote) if remote else request

    async def read(request: web.Request) -> web.Response:
        request = peer(request)
        await access.require(request, *READ, namespace=request.match_info["namespace"])
        return web.json_response({"user": request.get(USER_KEY)})

    async def run(request: web.Request) -> web.Response:
        request = peer(request)
        await access.require(request, *RUN, namespace=request.match_info["namespace"])
        return web.json_response({"user": request.get(USER_KEY)}, status=202)

    async def ship(request: web.Request) -> web.Response:
        request = peer(request)
        namespace, name = request.match_info["namespace"], request.match_info["flow"]
        await access.require(request, *SHIP, namespace=namespace, name=name)
        return web.json_response({"user": request.get(USER_KEY)})

    async def listing(request: web.Request) -> web.Response:
        allowed = await access.namespaces(peer(request), *READ)
        return web.json_response({"namespaces": None if allowed is None else sorted(allowed)})

    app = web.Application()
    app.router.add_get("/ns/{namespace}", read)
    app.router.add_post("/ns/{namespace}", run)
    app.router.add_post("/ns/{namespace}/ship/{flow}", ship)
    app.router.add_get("/list", listing)
    return app


@contextlib.asynccontextmanager
async def serving(access: Access) -> AsyncIterator[TestClient[Any, Any]]:
    client: TestClient[Any, Any] = TestClient(TestServer(access_app(access)))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


def unreachable_kubeconfig(path: Path) -> Path:
    """A kubeconfig naming a loopback port nothing listens on."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{free_port()}"}}],
        "users": [{"name": "u", "user": {"token": "console-token"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "c",
    }
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
async def unreachable(tmp_path: Path) -> AsyncIterator[Kube]:
    kube = Kube(str(unreachable_kubeconfig(tmp_path / "kubeconfig")))
    yield kube
    await kube.close()


@pytest.fixture
async def open_client() -> AsyncIterator[TestClient[Any, Any]]:
    async with serving(OpenAccess()) as client:
        yield client


async def test_open_access_allows_everything(open_client: TestClient[Any, Any]) -> None:
    assert (await open_client.get("/ns/a")).status == 200
    assert (await open_client.post("/ns/a")).status == 202
    assert await (await open_client.get("/list")).json() == {"namespaces": None}


async def problem_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status == status, await response.text()
    assert response.content_type == "application/problem+json"
    body: dict[str, Any] = await response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


async def test_no_token_from_loopback_is_let_in_only_when_allowed(unreachable: Kube) -> None:
    # Neither case reaches the (unreachable) API server: no token, no review.
    async with serving(
        KubernetesAccess(unreachable, allow_loopback_unauthenticated=True)
    ) as client:
        assert (await client.get("/ns/a")).status == 200
        assert await (await client.get("/list")).json() == {"namespaces": None}
        remote = await client.get("/ns/a", headers={PEER_HEADER: "10.1.2.3"})
        body = await problem_of(remote, 401)
        assert "bearer token is required" in body["detail"]
        assert remote.headers["WWW-Authenticate"] == 'Bearer realm="weir"'
    async with serving(KubernetesAccess(unreachable)) as client:
        await problem_of(await client.get("/ns/a"), 401)
        await problem_of(await client.get("/list"), 401)


async def test_ipv6_loopback_counts_as_loopback(unreachable: Kube) -> None:
    async with serving(
        KubernetesAccess(unreachable, allow_loopback_unauthenticated=True)
    ) as client:
        assert (await client.get("/ns/a", headers={PEER_HEADER: "::1"})).status == 200
        await problem_of(await client.get("/ns/a", headers={PEER_HEADER: "fe80::1"}), 401)


async def test_only_bearer_tokens_are_accepted(unreachable: Kube) -> None:
    async with serving(
        KubernetesAccess(unreachable, allow_loopback_unauthenticated=True)
    ) as client:
        # A wrong scheme is refused even on loopback: a client meant to send a token.
        for header in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer   "):
            body = await problem_of(
                await client.get("/ns/a", headers={"Authorization": header}), 401
            )
            assert "only bearer tokens" in body["detail"]


async def test_an_unreachable_api_server_answers_503_never_allows(unreachable: Kube) -> None:
    access = KubernetesAccess(unreachable, allow_loopback_unauthenticated=True)
    async with serving(access) as client:
        for method, headers in (
            ("GET", {"Authorization": "Bearer some-token"}),
            ("GET", {"Cookie": "weir_token=some-token"}),
        ):
            response = await client.request(method, "/ns/a", headers=headers)
            body = await problem_of(response, 503)
            assert "unreachable" in body["detail"] and "TokenReview" in body["detail"]
            assert response.headers["Retry-After"] == "5"


async def test_the_cookie_is_taken_for_get_only(unreachable: Kube) -> None:
    # A cross-site form could POST with the cookie: it must not count as a credential there.
    async with serving(KubernetesAccess(unreachable)) as client:
        post = await client.post("/ns/a", headers={"Cookie": "weir_token=some-token"})
        assert "bearer token is required" in (await problem_of(post, 401))["detail"]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def counting(values: list[str]) -> Callable[[], Any]:
    async def load() -> str:
        values.append(f"value {len(values)}")
        return values[-1]

    return load


async def test_the_cache_keeps_a_value_for_its_ttl() -> None:
    clock, loads = Clock(), list[str]()
    cache: TtlCache[str, str] = TtlCache(10.0, clock=clock)
    assert await cache.get("k", counting(loads)) == "value 0"
    clock.now += 9.9
    assert await cache.get("k", counting(loads)) == "value 0"
    clock.now += 0.2
    assert await cache.get("k", counting(loads)) == "value 1"


async def test_the_cache_keeps_no_errors_and_nothing_at_ttl_zero() -> None:
    clock, loads = Clock(), list[str]()

    async def failing() -> str:
        raise RuntimeError("down")

    cache: TtlCache[str, str] = TtlCache(10.0, clock=clock)
    with pytest.raises(RuntimeError):
        await cache.get("k", failing)
    assert await cache.get("k", counting(loads)) == "value 0"
    uncached: TtlCache[str, str] = TtlCache(0, clock=clock)
    await uncached.get("k", counting(loads))
    assert await uncached.get("k", counting(loads)) == "value 2"


async def test_the_cache_is_bounded() -> None:
    clock, loads = Clock(), list[str]()
    cache: TtlCache[int, str] = TtlCache(10.0, max_entries=3, clock=clock)
    for key in range(5):
        await cache.get(key, counting(loads))
    assert len(loads) == 5
    await cache.get(4, counting(loads))  # still kept
    await cache.get(0, counting(loads))  # the oldest went
    assert len(loads) == 6
