"""The http node's request bounds and egress policy, against real loopback servers: the query
string written in `url` is kept (and merged with `query`); `timeout` bounds the whole request,
so a server trickling its answer byte by byte is cut off; the egress policy
(WEIR_HTTP_ALLOW / WEIR_HTTP_DENY) refuses link-local addresses (cloud metadata) by default,
refuses loopback when told to, lets a more specific allowed network through, re-checks every
redirect, checks what a host name resolves to, and names a bad setting."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

from tests.runner.serving import free_port
from weir.lang.errors import ConfigError, NodeError, NodeTimeout
from weir.nodes.context import NodeContext
from weir.nodes.http import HttpConfig, run

ALLOW_ENV = "WEIR_HTTP_ALLOW"
DENY_ENV = "WEIR_HTTP_DENY"


class Trickle:
    """A server whose answers are slow in interesting ways, remembering what it saw."""

    def __init__(self) -> None:
        self.url = ""
        self.seen: list[str] = []
        self.trickling = False
        self.trickle_done = False

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(str(request.rel_url))
        if request.path == "/trickle":
            response = web.StreamResponse(headers={"Content-Type": "text/plain"})
            await response.prepare(request)
            self.trickling = True
            try:
                for _ in range(600):  # one byte every 100 ms: a minute in all
                    await response.write(b".")
                    await asyncio.sleep(0.1)
            finally:
                self.trickling = False
            self.trickle_done = True
            await response.write_eof()
            return response
        if request.path == "/to":
            raise web.HTTPFound(request.query["target"])
        return web.json_response({"path": request.path, "query": list(request.query.items())})


@pytest.fixture
async def server() -> AsyncIterator[Trickle]:
    state = Trickle()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", state.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    state.url = f"http://127.0.0.1:{port}"
    yield state
    await runner.cleanup()


@pytest.fixture(autouse=True)
def no_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    monkeypatch.delenv(DENY_ENV, raising=False)


def config(**fields: Any) -> HttpConfig:
    return HttpConfig.model_validate(fields)


# -- the URL's query string ----------------------------------------------------------------


async def test_the_query_string_written_in_the_url_reaches_the_server(
    server: Trickle, make_ctx: Callable[..., NodeContext]
) -> None:
    out = await run(config(url=server.url + "/search?q=weir&page=2"), make_ctx())
    assert out["body"]["query"] == [["q", "weir"], ["page", "2"]]


async def test_the_url_query_and_the_query_field_are_merged_in_order(
    server: Trickle, make_ctx: Callable[..., NodeContext]
) -> None:
    ctx = make_ctx(scope={"input": {"tags": ["a", "b"]}})
    out = await run(
        config(url=server.url + "/search?q=a%20b&tag=x", query={"tag": "$.input.tags"}), ctx
    )
    assert out["body"]["query"] == [["q", "a b"], ["tag", "x"], ["tag", "a"], ["tag", "b"]]
    assert server.seen[-1] == "/search?q=a%20b&tag=x&tag=a&tag=b"


# -- timeout bounds the whole request ---------------------------------------------------------


async def test_timeout_bounds_the_whole_request_not_each_read(
    server: Trickle, make_ctx: Callable[..., NodeContext]
) -> None:
    # Each byte comes well within the timeout; the whole answer would take a minute. The guard
    # is only there so that a regression fails instead of hanging.
    async with asyncio.timeout(30):
        with pytest.raises(NodeTimeout) as caught:
            await run(config(url=server.url + "/trickle", timeout="1s"), make_ctx())
    assert not server.trickle_done, "the whole answer was read: timeout did not bound it"
    assert caught.value.retryable and "timed out after 1s" in caught.value.message


# -- the egress policy --------------------------------------------------------------------------


async def test_link_local_addresses_are_refused_by_default(
    make_ctx: Callable[..., NodeContext],
) -> None:
    with pytest.raises(NodeError) as caught:
        await run(config(url="http://169.254.169.254/latest/meta-data/", timeout="3s"), make_ctx())
    error = caught.value
    assert error.type == "egress" and error.retryable is False
    assert "169.254.169.254" in error.message and "169.254.0.0/16" in error.message
    assert ALLOW_ENV in error.message


async def test_loopback_is_allowed_by_default_and_refused_when_the_policy_denies_it(
    server: Trickle, make_ctx: Callable[..., NodeContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (await run(config(url=server.url + "/ok"), make_ctx()))["status"] == 200
    monkeypatch.setenv(DENY_ENV, "loopback, private")
    with pytest.raises(NodeError) as caught:
        await run(config(url=server.url + "/secret"), make_ctx())
    assert caught.value.type == "egress" and "127.0.0.1" in caught.value.message
    assert "/secret" not in server.seen


async def test_a_host_name_is_checked_by_what_it_resolves_to(
    server: Trickle, make_ctx: Callable[..., NodeContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DENY_ENV, "loopback")
    port = server.url.rsplit(":", 1)[1]
    with pytest.raises(NodeError) as caught:
        await run(config(url=f"http://localhost:{port}/named"), make_ctx())
    assert caught.value.type == "egress" and "localhost" in caught.value.message
    assert "/named" not in server.seen


async def test_a_more_specific_allowed_network_wins_and_redirects_are_checked_again(
    server: Trickle, make_ctx: Callable[..., NodeContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DENY_ENV, "loopback")
    monkeypatch.setenv(ALLOW_ENV, "127.0.0.1/32")
    assert (await run(config(url=server.url + "/ok"), make_ctx()))["status"] == 200
    port = server.url.rsplit(":", 1)[1]
    target = f"http://127.0.0.2:{port}/inside"
    with pytest.raises(NodeError) as caught:
        await run(config(url=server.url + "/to", query={"target": target}), make_ctx())
    assert caught.value.type == "egress" and "127.0.0.2" in caught.value.message
    assert "/inside" not in server.seen


async def test_a_bad_policy_setting_is_a_config_error_naming_the_variable(
    server: Trickle, make_ctx: Callable[..., NodeContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DENY_ENV, "10.0.0.0/8, intranet")
    with pytest.raises(ConfigError, match=f"{DENY_ENV}: 'intranet' is not a network"):
        await run(config(url=server.url + "/ok"), make_ctx())
    assert server.seen == []


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("169.254.169.254", False),
        ("::ffff:169.254.169.254", False),  # the IPv4-mapped form is the same address
        ("fe80::1", False),
        ("fd00:ec2::254", False),
        ("127.0.0.1", True),
        ("10.1.2.3", True),
        ("93.184.215.14", True),
    ],
)
def test_the_default_policy_denies_link_local_and_metadata_only(
    address: str, allowed: bool
) -> None:
    from weir.nodes.http_egress import EgressPolicy

    assert (EgressPolicy.from_environ({}).check(address) is None) is allowed


def test_the_longest_matching_network_decides_and_a_tie_denies() -> None:
    from weir.nodes.http_egress import EgressPolicy

    policy = EgressPolicy.from_environ(
        {DENY_ENV: "private, 10.1.2.3/32", ALLOW_ENV: "10.1.0.0/16, 10.1.2.3/32, link-local"}
    )
    assert policy.check("10.9.9.9") is not None  # private
    assert policy.check("10.1.9.9") is None  # the /16 allowed is more specific
    assert policy.check("10.1.2.3") is not None  # both say /32: deny
    assert policy.check("169.254.169.254") is None  # allowed explicitly


def _self_signed(directory: Any) -> tuple[str, str]:
    """A certificate for the name localhost only (and its key), written as PEM files."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_file), str(key_file)


async def test_https_through_the_checked_address_still_verifies_the_host_name(
    tmp_path: Any, make_ctx: Callable[..., NodeContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection goes to the resolved address (127.0.0.1 either way); TLS still checks the
    name in the URL: localhost is what the certificate names, 127.0.0.1 is not."""
    import ssl

    cert_file, key_file = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)

    async def answer(request: web.Request) -> web.Response:
        return web.json_response({"tls": True})

    app = web.Application()
    app.router.add_get("/", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=context).start()
    try:
        monkeypatch.setenv("SSL_CERT_FILE", cert_file)  # trust the test's certificate
        out = await run(config(url=f"https://localhost:{port}/"), make_ctx())
        assert out["body"] == {"tls": True}
        with pytest.raises(NodeError, match="certificate verify failed"):
            await run(config(url=f"https://127.0.0.1:{port}/"), make_ctx())
    finally:
        await runner.cleanup()
