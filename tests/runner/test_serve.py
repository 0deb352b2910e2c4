"""`weir serve` as a process: health, readiness, metrics, the REST trigger's answers and
refusals, graceful shutdown and hot reload."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import socket
import textwrap
import threading
import time
from pathlib import Path

import httpx

from tests.runner.serving import ROOT, Served

ECHO = ROOT / "examples" / "webhook-echo" / "flow.yaml"


def write_flow(path: Path, trigger: str, nodes: str, extra: str = "") -> Path:
    path.write_text(
        "apiVersion: weir.dev/v1alpha1\nkind: Flow\nmetadata: {name: served}\nspec:\n"
        + textwrap.indent(textwrap.dedent(trigger).strip(), "  ")
        + "\n  nodes:\n"
        + textwrap.indent(textwrap.dedent(nodes).strip(), "    ")
        + "\n"
        + textwrap.indent(textwrap.dedent(extra).strip(), "  ")
        + "\n"
    )
    return path


def test_webhook_echo_answers_and_is_counted(tmp_path: Path) -> None:
    with Served(ECHO, "--store", f"sqlite:///{tmp_path}/s.db") as served:
        assert httpx.get(served.url + "/healthz").status_code == 200
        ready = httpx.get(served.url + "/readyz").json()
        assert ready["ready"] is True and ready["flow"] == "webhook-echo"

        answer = httpx.post(served.url + "/echo", json={"hello": "world", "n": [1, 2]})
        assert answer.status_code == 200
        body = answer.json()
        assert body["hello"] == "world" and body["n"] == [1, 2] and "T" in body["receivedAt"]
        assert answer.headers["X-Weir-Execution-Id"]

        metrics = httpx.get(served.url + "/metrics").text
        assert 'weir_executions_total{flow="webhook-echo",status="succeeded"} 1.0' in metrics
        assert (
            'weir_node_duration_seconds_count{flow="webhook-echo",kind="transform",node="echo"} 1.0'
            in metrics
        )
        assert "weir_build_info" in metrics


def test_bad_requests_get_a_json_4xx_and_the_runner_keeps_serving(tmp_path: Path) -> None:
    with Served(ECHO, "--no-store") as served:
        url = served.url + "/echo"
        cases = [
            (
                httpx.post(url, content=b"{not json", headers={"Content-Type": "application/json"}),
                400,
                "not valid JSON",
            ),
            (
                httpx.post(
                    url, content=b"\x00\x01", headers={"Content-Type": "application/octet-stream"}
                ),
                415,
                "unsupported content type",
            ),
            (httpx.post(url, json={"blob": "x" * 70_000}), 413, "limit"),
            (httpx.post(url, json=["not", "an", "object"]), 400, "does not match the schema"),
            (httpx.get(url), 405, "method GET is not allowed"),
            (httpx.post(served.url + "/elsewhere", json={}), 404, "no endpoint"),
        ]
        for answer, status, message in cases:
            assert answer.status_code == status, answer.text
            assert message in answer.json()["error"]["message"]
        assert httpx.post(url, json={"still": "serving"}).json()["still"] == "serving"


def _signed_flow(tmp_path: Path) -> Path:
    return write_flow(
        tmp_path / "flow.yaml",
        """
        trigger:
          rest:
            path: /hook
            auth: {hmac: {secret: {secret: hook, key: key}, header: X-Hub-Signature-256, prefix: "sha256="}}
        secrets:
          - {name: hook}
        """,
        """
        - name: ok
          transform: {set: {got: $.input.event}}
        """,
    )


def test_an_hmac_signature_is_checked_over_the_raw_body(tmp_path: Path) -> None:
    env = {"WEIR_SECRET_HOOK_KEY": "k3y"}
    with Served(_signed_flow(tmp_path), "--no-store", env=env) as served:
        body = b'{"event": "push"}'
        good = "sha256=" + hmac.new(b"k3y", body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json"}
        answer = httpx.post(
            served.url + "/hook", content=body, headers={**headers, "X-Hub-Signature-256": good}
        )
        assert answer.status_code == 200 and answer.json() == {"got": "push"}
        bad = httpx.post(
            served.url + "/hook",
            content=body,
            headers={**headers, "X-Hub-Signature-256": "sha256=00"},
        )
        assert (
            bad.status_code == 401
            and bad.json()["error"]["message"] == "missing or invalid credentials"
        )
        assert httpx.post(served.url + "/hook", content=body, headers=headers).status_code == 401


def test_bearer_and_basic_credentials_come_from_secrets(tmp_path: Path) -> None:
    bearer = write_flow(
        tmp_path / "bearer.yaml",
        """
        trigger: {rest: {path: /b, auth: {bearer: {secret: api, key: token}}}}
        secrets: [{name: api}]
        """,
        "- {name: ok, transform: {set: yes}}",
    )
    env = {
        "WEIR_SECRET_API_TOKEN": "t0ken",
        "WEIR_SECRET_API_USER": "bob",
        "WEIR_SECRET_API_PASSWORD": "pw",
    }
    with Served(bearer, "--no-store", env=env) as served:
        assert (
            httpx.post(
                served.url + "/b", json={}, headers={"Authorization": "Bearer t0ken"}
            ).status_code
            == 200
        )
        refused = httpx.post(served.url + "/b", json={}, headers={"Authorization": "Bearer nope"})
        assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == "Bearer"
    basic = write_flow(
        tmp_path / "basic.yaml",
        """
        trigger:
          rest: {path: /b, auth: {basic: {username: {secret: api, key: user}, password: {secret: api, key: password}}}}
        secrets: [{name: api}]
        """,
        "- {name: ok, transform: {set: yes}}",
    )
    with Served(basic, "--no-store", env=env) as served:
        assert httpx.post(served.url + "/b", json={}, auth=("bob", "pw")).status_code == 200
        assert httpx.post(served.url + "/b", json={}, auth=("bob", "wrong")).status_code == 401


def test_soap_requests_are_unwrapped_and_answered_in_an_envelope(tmp_path: Path) -> None:
    flow = write_flow(
        tmp_path / "flow.yaml",
        "trigger: {rest: {path: /soap, soap: true}}",
        """
        - name: answer
          transform: {set: {GetOrderResponse: {id: "${input.GetOrder.id}", status: shipped}}}
        """,
    )
    request = (
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        '<GetOrder xmlns="urn:shop"><id>42</id></GetOrder></soap:Body></soap:Envelope>'
    )
    with Served(flow, "--no-store") as served:
        answer = httpx.post(
            served.url + "/soap", content=request, headers={"Content-Type": "text/xml"}
        )
        assert answer.status_code == 200, answer.text
        assert (
            "<GetOrderResponse><id>42</id><status>shipped</status></GetOrderResponse>"
            in answer.text
        )
        assert "schemas.xmlsoap.org/soap/envelope" in answer.text
        fault = httpx.post(
            served.url + "/soap", content="<notsoap/>", headers={"Content-Type": "text/xml"}
        )
        assert fault.status_code == 400 and "<faultcode>soap:Client</faultcode>" in fault.text


def test_async_mode_answers_202_with_the_execution_id(tmp_path: Path) -> None:
    flow = write_flow(
        tmp_path / "flow.yaml",
        "trigger: {rest: {path: /later, mode: async}}",
        "- {name: work, extension: {kind: test.sleep, config: {seconds: 0.2, value: done}}}",
    )
    store = f"sqlite:///{tmp_path}/s.db"
    with Served(flow, "--store", store) as served:
        answer = httpx.post(served.url + "/later", json={"n": 1})
        assert answer.status_code == 202
        execution = answer.json()["executionId"]
        assert answer.headers["X-Weir-Execution-Id"] == execution
        assert served.terminate() == 0  # draining lets the execution finish and be recorded
    shown = _weir("executions", "show", execution, "--store", store, "--json")
    assert json.loads(shown)["status"] == "succeeded"


def test_sigterm_lets_every_request_in_flight_complete_then_exits_0(tmp_path: Path) -> None:
    flow = write_flow(
        tmp_path / "flow.yaml",
        "trigger: {rest: {path: /slow}}",
        "- {name: work, extension: {kind: test.sleep, config: {seconds: 1.5, value: $.input.i}}}",
    )
    served = Served(flow, "--no-store", "--grace", "30")
    served.wait_ready()
    results: list[tuple[int, object]] = []

    async def load() -> None:
        async with httpx.AsyncClient(
            timeout=30, limits=httpx.Limits(max_connections=100)
        ) as client:

            async def one(i: int) -> None:
                answer = await client.post(served.url + "/slow", json={"i": i})
                results.append((answer.status_code, answer.json()))

            tasks = [asyncio.create_task(one(i)) for i in range(50)]
            while json.loads((await client.get(served.url + "/readyz")).text)["inFlight"] < 50:
                await asyncio.sleep(0.02)
            served.sigterm()
            await asyncio.gather(*tasks)

    asyncio.run(load())
    assert served.terminate() == 0, served.output()
    assert sorted(body for status, body in results if status == 200) == list(range(50))


def test_a_rewritten_flow_is_served_without_failing_a_request(tmp_path: Path) -> None:
    flow = write_flow(
        tmp_path / "flow.yaml",
        "trigger: {rest: {path: /v}}",
        "- {name: v, transform: {set: {v: one}}}",
    )
    with Served(flow, "--no-store") as served:
        failures: list[str] = []
        answers: list[object] = []
        stop = threading.Event()

        def steady_load() -> None:
            with httpx.Client() as client:
                while not stop.is_set():
                    answer = client.post(served.url + "/v", json={})
                    if answer.status_code != 200:
                        failures.append(answer.text)
                    else:
                        answers.append(answer.json())

        thread = threading.Thread(target=steady_load)
        thread.start()
        try:
            time.sleep(0.5)
            _atomic_write(flow, flow.read_text().replace("set: {v: one}", "set: {v: two}"))
            _wait_for(lambda: answers and answers[-1] == {"v": "two"})
            _atomic_write(flow, flow.read_text().replace("set: {v: two}", "set: [unclosed"))
            _wait_for(lambda: "reloadError" in httpx.get(served.url + "/readyz").json())
            time.sleep(0.5)
        finally:
            stop.set()
            thread.join()
        assert not failures
        assert answers[-1] == {"v": "two"}  # the invalid rewrite left revision "two" serving
        ready = httpx.get(served.url + "/readyz").json()
        assert ready["ready"] is True and "YAML syntax error" in ready["reloadError"]
        metrics = httpx.get(served.url + "/metrics").text
        assert 'weir_flow_reloads_total{outcome="applied"} 1.0' in metrics
        assert "weir_flow_file_valid 0.0" in metrics


def test_a_configmap_style_symlink_swap_is_picked_up(tmp_path: Path) -> None:
    volume = tmp_path / "volume"
    (volume / "..v1").mkdir(parents=True)
    write_flow(
        volume / "..v1" / "flow.yaml",
        "trigger: {rest: {path: /v}}",
        "- {name: v, transform: {set: {v: one}}}",
    )
    (volume / "..data").symlink_to("..v1")
    (volume / "flow.yaml").symlink_to("..data/flow.yaml")
    with Served(volume / "flow.yaml", "--no-store") as served:
        assert httpx.post(served.url + "/v", json={}).json() == {"v": "one"}
        (volume / "..v2").mkdir()
        write_flow(
            volume / "..v2" / "flow.yaml",
            "trigger: {rest: {path: /v}}",
            "- {name: v, transform: {set: {v: two}}}",
        )
        (volume / "..data_tmp").symlink_to("..v2")
        os.replace(volume / "..data_tmp", volume / "..data")  # what the kubelet does
        _wait_for(lambda: httpx.post(served.url + "/v", json={}).json() == {"v": "two"})


def test_a_reload_that_moves_the_endpoint_is_followed(tmp_path: Path) -> None:
    flow = write_flow(
        tmp_path / "flow.yaml",
        "trigger: {rest: {path: /v}}",
        "- {name: v, transform: {set: {v: one}}}",
    )
    with Served(flow, "--no-store") as served:
        assert httpx.post(served.url + "/v", json={}).json() == {"v": "one"}
        _atomic_write(flow, flow.read_text().replace("path: /v", "path: /orders/v2"))
        _wait_for(lambda: httpx.post(served.url + "/orders/v2", json={}).status_code == 200)
        gone = httpx.post(served.url + "/v", json={})
        assert gone.status_code == 404 and "no endpoint at /v" in gone.json()["error"]["message"]


def test_an_invalid_flow_file_exits_2_naming_the_problem(tmp_path: Path) -> None:
    flow = write_flow(
        tmp_path / "flow.yaml",
        "trigger: {rest: {path: /v}}",
        "- {name: v, transform: {set: 1}, next: nowhere}",
    )
    served = Served(flow, "--no-store")
    assert served.process.wait(30) == 2
    assert "unknown target node 'nowhere'" in served.output() and "Traceback" not in served.output()


def test_a_seconds_cron_schedule_is_refused_at_start(tmp_path: Path) -> None:
    """Six fields (seconds) would run here and be refused by Kubernetes as a CronJob."""
    import subprocess
    import sys

    flow = write_flow(
        tmp_path / "flow.yaml",
        "trigger: {cron: {schedule: '* * * * * */1'}}",
        "- {name: tick, transform: {set: $.trigger.scheduledTime}}",
    )
    done = subprocess.run(
        [sys.executable, "-m", "weir.cli", "serve", str(flow), "--port", "0"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "spec.trigger.cron.schedule" in done.stderr and "has 6 fields" in done.stderr


def _weir(*args: str) -> str:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "weir.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _atomic_write(path: Path, text: str) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def _wait_for(check: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_payloads_by_content_type_and_a_shaped_answer(tmp_path: Path) -> None:
    flow = write_flow(
        tmp_path / "flow.yaml",
        """
        trigger:
          rest:
            path: /orders
            response:
              status: 201
              headers: {Location: "/orders/${result.id}"}
              body: {id: $.result.id, got: $.input}
        """,
        """
        - name: shape
          transform: {set: {id: "o-1"}}
        """,
    )
    with Served(flow, "--no-store") as served:
        url = served.url + "/orders"
        answer = httpx.post(url, json={"n": 1})
        assert answer.status_code == 201 and answer.headers["Location"] == "/orders/o-1"
        assert answer.json() == {"id": "o-1", "got": {"n": 1}}
        form = httpx.post(url, data={"a": "1", "b": ["x", "y"]})
        assert form.json()["got"] == {"a": "1", "b": ["x", "y"]}
        xml = httpx.post(
            url,
            content='<order id="7"><sku>a</sku></order>',
            headers={"Content-Type": "application/xml"},
        )
        assert xml.json()["got"] == {"order": {"@id": "7", "sku": "a"}}
        text = httpx.post(url, content="plain words", headers={"Content-Type": "text/plain"})
        assert text.json()["got"] == "plain words"
        bomb = '<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
        refused = httpx.post(url, content=bomb, headers={"Content-Type": "application/xml"})
        assert refused.status_code == 400 and "DTD" in refused.json()["error"]["message"]


def test_the_concurrency_limit_answers_429_and_recovers(tmp_path: Path) -> None:
    flow = write_flow(
        tmp_path / "flow.yaml",
        "trigger: {rest: {path: /slow, concurrency: 2}}",
        "- {name: work, extension: {kind: test.sleep, config: {seconds: 3, value: done}}}",
    )
    with Served(flow, "--no-store") as served:

        async def burst() -> list[int]:
            async with httpx.AsyncClient(timeout=30) as client:
                answers = await asyncio.gather(
                    *(client.post(served.url + "/slow", json={}) for _ in range(5))
                )
            return sorted(a.status_code for a in answers)

        statuses = asyncio.run(burst())
        assert statuses.count(200) == 2 and statuses.count(429) == 3
        assert httpx.post(served.url + "/slow", json={}, timeout=30).status_code == 200


def _raw_request(port: int, head: str, body: bytes = b"") -> socket.socket:
    """Send a request's head and the first part of its body; the caller decides the rest."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
    return sock


def _status_of(sock: socket.socket) -> int:
    with sock:
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b" ", 2)[1])


def test_a_slow_body_does_not_hold_a_concurrency_slot_and_times_out_with_408(
    tmp_path: Path,
) -> None:
    flow = write_flow(
        tmp_path / "flow.yaml",
        "trigger: {rest: {path: /one, concurrency: 1}}",
        "- {name: ok, transform: {set: {got: $.input.n}}}",
    )
    env = {"WEIR_REST_BODY_TIMEOUT": "1"}
    with Served(flow, "--no-store", env=env) as served:
        head = "POST /one HTTP/1.1\nHost: x\nContent-Type: application/json\nContent-Length: 100\n"
        slow = [_raw_request(served.port, head, b'{"n": ') for _ in range(3)]
        received = 'outcome="received",trigger="rest"} 3.0'
        _wait_for(lambda: received in httpx.get(served.url + "/metrics").text)
        # The slow bodies are still arriving: the one slot is free for a request that is ready.
        answer = httpx.post(served.url + "/one", json={"n": 1}, timeout=10)
        assert answer.status_code == 200 and answer.json() == {"got": 1}
        assert [_status_of(sock) for sock in slow] == [408, 408, 408]
        assert httpx.post(served.url + "/one", json={"n": 2}, timeout=10).status_code == 200
    assert "Traceback" not in served.output()


def _deep_flows(tmp_path: Path) -> tuple[Path, Path]:
    soap = write_flow(
        tmp_path / "soap.yaml",
        "trigger: {rest: {path: /soap, soap: true}}",
        "- {name: answer, transform: {set: {Done: ok}}}",
    )
    return ECHO, soap


def test_deep_bodies_and_nan_get_400_with_one_warning_and_no_traceback(tmp_path: Path) -> None:
    echo, soap = _deep_flows(tmp_path)
    envelope = (
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        "{}</soap:Body></soap:Envelope>"
    )
    json_type = {"Content-Type": "application/json"}
    xml_type = {"Content-Type": "application/xml"}
    with Served(echo, "--no-store") as served:
        url = served.url + "/echo"
        cases = [
            (b"[" * 30_000 + b"]" * 30_000, json_type, "nested deeper than"),
            (b'{"a": ' * 5_000 + b"1" + b"}" * 5_000, json_type, "nested deeper than"),
            (b'{"a": ' * 500 + b"1" + b"}" * 500, json_type, "nested deeper than"),
            (b'{"n": NaN}', json_type, "NaN"),
            (b'{"n": -Infinity}', json_type, "Infinity"),
            (b"<a>" * 8_000 + b"</a>" * 8_000, xml_type, "nested deeper than"),
        ]
        for body, headers, message in cases:
            answer = httpx.post(url, content=body, headers=headers)
            assert answer.status_code == 400, answer.text
            assert message in answer.json()["error"]["message"]
        assert httpx.post(url, json={"still": "serving"}).json()["still"] == "serving"
        log = served.output()
    assert "Traceback" not in log
    assert log.count("rejected POST /echo: 400") == len(cases), log
    with Served(soap, "--no-store") as served:
        deep = envelope.format("<Op>" + "<a>" * 10_000 + "</a>" * 10_000 + "</Op>")
        answer = httpx.post(
            served.url + "/soap", content=deep, headers={"Content-Type": "text/xml"}
        )
        assert answer.status_code == 400 and "<faultcode>soap:Client</faultcode>" in answer.text
        assert "nested deeper than" in answer.text
        fine = envelope.format("<Op><a>1</a></Op>")
        ok = httpx.post(served.url + "/soap", content=fine, headers={"Content-Type": "text/xml"})
        assert ok.status_code == 200, ok.text
    assert "Traceback" not in served.output()


def test_an_unreadable_signing_secret_makes_the_runner_unready_and_answers_generically(
    tmp_path: Path,
) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    served = Served(_signed_flow(tmp_path), "--no-store", "--secrets-dir", str(secrets))
    try:

        def readyz() -> httpx.Response | None:
            try:
                return httpx.get(served.url + "/readyz", timeout=2)
            except httpx.TransportError:
                return None

        _wait_for(lambda: readyz() is not None)
        unready = readyz()
        assert unready is not None and unready.status_code == 503
        assert unready.json()["ready"] is False
        assert "secret hook/key" in unready.json()["reason"]
        assert "WEIR_SECRET" not in unready.text
        body = b'{"event": "push"}'
        signature = "sha256=" + hmac.new(b"k3y", body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature}
        for _ in range(3):
            answer = httpx.post(served.url + "/hook", content=body, headers=headers)
            assert answer.status_code == 503, answer.text
            assert "WEIR_SECRET" not in answer.text and "hook" not in answer.text.lower()
        log = served.output()
        assert log.count("WEIR_SECRET_HOOK_KEY") == 1, log
        assert "Traceback" not in log

        (secrets / "hook").mkdir()
        (secrets / "hook" / "key").write_text("k3y")
        _wait_for(lambda: (r := readyz()) is not None and r.status_code == 200)
        answer = httpx.post(served.url + "/hook", content=body, headers=headers)
        assert answer.status_code == 200 and answer.json() == {"got": "push"}
    finally:
        served.kill()
