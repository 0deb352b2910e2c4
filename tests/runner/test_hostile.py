"""Hostile requests against real `weir serve` processes on loopback: more than a thousand
malformed requests (deep JSON, XML and SOAP, NaN and Infinity, oversized and truncated bodies,
bad content types and charsets, broken HTTP framing, bad credentials, a few slow bodies) are
all refused with a 4xx, none logs a traceback, and the runner's memory stays where it was. The
MCP endpoint, behind the same guards, refuses its share the same way."""

from __future__ import annotations

import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from tests.runner.serving import Served
from tests.runner.test_serve import write_flow

TOKEN = "h0stile-t0ken"
ROUNDS = 40
"""Each round sends every kind once: ROUNDS x kinds > 1,000 requests. The loops are bounded by
count and every request by a timeout (about 10 s for the whole test on a laptop)."""

SOAP_ENVELOPE = (
    '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
    "{}</soap:Body></soap:Envelope>"
)
BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    "<lolz>&lol3;</lolz>"
)

Send = Callable[[], int]


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for process {pid}")


def _raw(port: int, data: bytes, half_close: bool = False) -> int:
    """Send raw bytes; the answer's status, or 0 when the server (rightly) just hung up."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                return 0
            answer += chunk
    return int(answer.split(b" ", 2)[1])


def _flows(tmp_path: Path) -> tuple[Path, Path]:
    rest = write_flow(
        tmp_path / "rest.yaml",
        """
        trigger:
          rest:
            path: /in
            maxBodySize: 64Ki
            concurrency: 4
            auth: {bearer: {secret: api, key: token}}
            schema: {type: object}
        secrets: [{name: api}]
        """,
        "- {name: echo, transform: {set: {got: $.input}}}",
    )
    soap = write_flow(
        tmp_path / "soap.yaml",
        "trigger: {rest: {path: /soap, soap: true, maxBodySize: 64Ki}}",
        "- {name: answer, transform: {set: {Done: ok}}}",
    )
    return rest, soap


def _rest_kinds(client: httpx.Client, url: str, port: int) -> dict[str, Send]:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    json_type = {**auth, "Content-Type": "application/json"}
    xml_type = {**auth, "Content-Type": "application/xml"}

    def post(body: bytes | Iterator[bytes], headers: dict[str, str]) -> Send:
        return lambda: client.post(url, content=body, headers=headers).status_code

    head = f"POST /in HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
    return {
        "deep json arrays": post(b"[" * 30_000 + b"]" * 30_000, json_type),
        "deep json objects": post(b'{"a":' * 6_000 + b"1" + b"}" * 6_000, json_type),
        "json just past the depth bound": post(b"[" * 65 + b"]" * 65, json_type),
        "NaN": post(b'{"n": NaN}', json_type),
        "Infinity": post(b'{"n": [1, -Infinity]}', json_type),
        "a number too large for a double": post(b'{"n": 1e999}', json_type),
        "an integer of 5,000 digits": post(b'{"n": ' + b"9" * 5_000 + b"}", json_type),
        "truncated json": post(b'{"order": {"id": 7, "lines": [1, 2', json_type),
        "json that is not an object": post(b"[1, 2, 3]", json_type),
        "invalid utf-8": post(b'{"a": "\xff\xfe"}', json_type),
        "an unknown charset": post(b"{}", {**auth, "Content-Type": "text/plain; charset=nope"}),
        "deep xml": post(b"<a>" * 8_000 + b"</a>" * 8_000, xml_type),
        "xml entities": post(BILLION_LAUGHS.encode(), xml_type),
        "truncated xml": post(b"<order><id>7</id><lines>", xml_type),
        "octet-stream": post(b"\x00\x01\x02", {**auth, "Content-Type": "application/octet-stream"}),
        "a garbage content type": post(b"{}", {**auth, "Content-Type": "///;;;"}),
        "oversized, declared": post(b"[" + b"1," * 40_000 + b"1]", json_type),
        "oversized, chunked": post(iter([b"[" + b"1," * 40_000 + b"1]"]), json_type),
        "no credentials": post(b"{}", {"Content-Type": "application/json"}),
        "a wrong token": post(
            b"{}", {"Authorization": "Bearer nope", "Content-Type": "application/json"}
        ),
        "a wrong scheme": post(b"{}", {"Authorization": "Basic Ym9iOnB3"}),
        "a huge token": post(b"{}", {"Authorization": "Bearer " + "x" * 6_000}),
        "a wrong method": lambda: client.delete(url, headers=auth).status_code,
        "a bad chunk size": lambda: _raw(
            port,
            (
                head + "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                '5\r\n{"n":\r\nzz\r\n'
            ).encode(),
        ),
        "a bad content length": lambda: _raw(
            port, (head + "Content-Length: abc\r\n\r\n{}").encode()
        ),
        "a body cut short": lambda: _raw(
            port,
            (head + "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{").encode(),
            half_close=True,
        ),
    }


def _soap_kinds(client: httpx.Client, url: str) -> dict[str, Send]:
    xml = {"Content-Type": "text/xml"}

    def post(body: str, headers: dict[str, str] = xml) -> Send:
        return lambda: client.post(url, content=body.encode(), headers=headers).status_code

    return {
        "deep soap": post(SOAP_ENVELOPE.format("<Op>" + "<a>" * 8_000 + "</a>" * 8_000 + "</Op>")),
        "soap entities": post(BILLION_LAUGHS),
        "not an envelope": post("<notsoap/>"),
        "an empty soap body": post(SOAP_ENVELOPE.format("")),
        "truncated soap": post(SOAP_ENVELOPE.format("<Op>")[:-20]),
        "soap as json": post("{}", {"Content-Type": "application/json"}),
    }


def _slow_bodies(
    port: int, count: int, statuses: list[int], path: str = "/in"
) -> list[threading.Thread]:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000\r\n\r\n"
    )

    def one() -> None:
        statuses.append(_raw(port, head.encode() + b'{"slow": "'))

    threads = [threading.Thread(target=one, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads


def test_a_thousand_hostile_requests_get_4xx_no_traceback_and_no_memory_growth(
    tmp_path: Path,
) -> None:
    rest_flow, soap_flow = _flows(tmp_path)
    env = {"WEIR_SECRET_API_TOKEN": TOKEN, "WEIR_REST_BODY_TIMEOUT": "2"}
    with (
        Served(rest_flow, "--no-store", env=env) as rest,
        Served(soap_flow, "--no-store", env=env) as soap,
        httpx.Client(timeout=20) as client,
    ):
        kinds = {
            **_rest_kinds(client, rest.url + "/in", rest.port),
            **_soap_kinds(client, soap.url + "/soap"),
        }
        unexpected: Counter[str] = Counter()

        def one_round() -> int:
            for name, send in kinds.items():
                status = send()
                if status == 0 and name == "a body cut short":
                    continue  # the client half-closed: the server hangs up, logging one line
                if not 400 <= status < 500:
                    unexpected[f"{name}: {status}"] += 1
            return len(kinds)

        good = {"Authorization": f"Bearer {TOKEN}"}
        for _ in range(3):  # warm-up: every code path has run and its caches are filled
            one_round()
        assert client.post(rest.url + "/in", json={"ok": 1}, headers=good).status_code == 200
        rss_before = {p.process.pid: _rss_kib(p.process.pid) for p in (rest, soap)}

        slow_statuses: list[int] = []
        slow = _slow_bodies(rest.port, 3, slow_statuses)
        sent = 0
        for _ in range(ROUNDS):
            sent += one_round()
        for thread in slow:
            thread.join(timeout=20)
        sent += len(slow)

        assert sent >= 1_000
        assert not unexpected, unexpected
        assert slow_statuses == [408, 408, 408]
        answer = client.post(rest.url + "/in", json={"still": "serving"}, headers=good)
        assert answer.status_code == 200 and answer.json() == {"got": {"still": "serving"}}
        for served in (rest, soap):
            assert httpx.get(served.url + "/readyz").status_code == 200
            grown = _rss_kib(served.process.pid) - rss_before[served.process.pid]
            assert grown < 10 * 1024, f"RSS grew by {grown} KiB"
        logs = rest.output() + soap.output()
    assert "Traceback" not in logs
    assert '"level": "error"' not in logs
    # One warning line per refused request (the warm-up's included), nothing more.
    assert logs.count('"level": "warning"') == sent + 3 * len(kinds), logs[-3000:]


def _mcp_kinds(client: httpx.Client, url: str, port: int) -> dict[str, Send]:
    """What the guards in front of the MCP SDK refuse, and what the SDK itself refuses."""
    auth = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json, text/event-stream"}
    json_type = {**auth, "Content-Type": "application/json"}

    def post(body: bytes | Iterator[bytes], headers: dict[str, str]) -> Send:
        return lambda: client.post(url, content=body, headers=headers).status_code

    head = f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
    return {
        "no credentials": post(b"{}", {"Content-Type": "application/json"}),
        "a wrong token": post(b"{}", {**json_type, "Authorization": "Bearer nope"}),
        "a huge token": post(b"{}", {**json_type, "Authorization": "Bearer " + "x" * 6_000}),
        "oversized, declared": post(b"[" + b"1," * 40_000 + b"1]", json_type),
        "oversized, chunked": post(iter([b"[" + b"1," * 40_000 + b"1]"]), json_type),
        "not json-rpc": post(b"{not json", json_type),
        "a body cut short": lambda: _raw(
            port,
            (head + "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{").encode(),
            half_close=True,
        ),
        "a websocket upgrade": lambda: _raw(
            port,
            (
                f"GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
                "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
            ).encode(),
        ),
    }


def test_hostile_requests_to_the_mcp_endpoint_get_4xx_and_no_traceback(tmp_path: Path) -> None:
    flow = write_flow(
        tmp_path / "mcp.yaml",
        """
        trigger:
          mcp:
            tool: echo
            maxBodySize: 64Ki
            auth: {bearer: {secret: api, key: token}}
        secrets: [{name: api}]
        """,
        "- {name: echo, transform: {set: {got: $.input}}}",
    )
    env = {"WEIR_SECRET_API_TOKEN": TOKEN, "WEIR_REST_BODY_TIMEOUT": "2"}
    with Served(flow, "--no-store", env=env) as served, httpx.Client(timeout=20) as client:
        kinds = _mcp_kinds(client, served.url + "/mcp", served.port)
        unexpected: Counter[str] = Counter()
        for _ in range(10):
            for name, send in kinds.items():
                status = send()
                if status == 0 and name == "a body cut short":
                    continue  # the client half-closed: the server hangs up
                if not 400 <= status < 500:
                    unexpected[f"{name}: {status}"] += 1
        statuses: list[int] = []
        slow = _slow_bodies(served.port, 2, statuses, path="/mcp")
        for thread in slow:
            thread.join(timeout=20)
        assert not unexpected, unexpected
        assert statuses == [408, 408]
        hello = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        headers = {
            "Authorization": f"Bearer {TOKEN}",
            "Accept": "application/json, text/event-stream",
        }
        assert client.post(served.url + "/mcp", json=hello, headers=headers).status_code == 200
        assert httpx.get(served.url + "/readyz").status_code == 200
        log = served.output()
    assert "Traceback" not in log and '"level": "error"' not in log
