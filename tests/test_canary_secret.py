"""A canary secret value that nodes read, log, return and put into an error message appears
nowhere: not in the store's files, not on stdout or stderr, not in `weir serve`'s JSON logs,
not in what `weir executions show` prints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.runner.serving import ROOT, Served

CANARY = "canary-7f3e9a1b-d0c4"
BOOT = "import sys, tests.runner.kinds; from weir.cli import main; sys.exit(main())"

FLOW = """\
apiVersion: weir.dev/v1alpha1
kind: Flow
metadata: {name: canary}
spec:
  secrets: [{name: canary}]
  trigger: TRIGGER
  nodes:
    - name: leak
      extension: {kind: test.echo, config: {value: $.input, secret: {secret: canary, key: value}}}
      next: say
    - name: say
      log: {message: "token is ${nodes.leak.secret}", fields: {t: $.nodes.leak.secret}}
      next: missing
    - name: missing
      file: {baseDir: BASE, read: {path: "${nodes.leak.secret}.txt"}}
      onError: recover
    - name: recover
      log: {level: error, message: "${error.message} (after ${nodes.leak.secret})"}
  result: {echo: $.nodes.leak.secret, input: $.input}
"""


def flow_file(tmp_path: Path, trigger: str) -> Path:
    base = tmp_path / "files"
    base.mkdir(exist_ok=True)
    path = tmp_path / "flow.yaml"
    path.write_text(FLOW.replace("TRIGGER", trigger).replace("BASE", str(base)))
    return path


def weir(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BOOT, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={**os.environ, "WEIR_SECRET_CANARY_VALUE": CANARY},
    )


def assert_no_canary_in_store(tmp_path: Path) -> None:
    files = list(tmp_path.glob("store.db*"))
    assert files, "the store wrote nothing"
    for file in files:  # the database, its WAL and shared-memory files
        assert CANARY.encode() not in file.read_bytes(), file.name


def test_weir_run_never_shows_the_canary(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/store.db"
    done = weir(
        "run", str(flow_file(tmp_path, "{manual: {}}")), "--input", '{"x": 1}', "--store", store
    )
    assert done.returncode == 0, done.stderr
    # The value really flowed through every node: redacted where it would have shown.
    assert '"echo": "***"' in done.stdout and "token is ***" in done.stderr
    assert "***.txt" in done.stderr  # the not-found error names the path, redacted
    assert CANARY not in done.stdout and CANARY not in done.stderr
    assert_no_canary_in_store(tmp_path)
    shown = weir(
        "executions",
        "show",
        "--store",
        store,
        _only_id(weir("executions", "list", "--store", store, "--json").stdout),
    )
    assert shown.returncode == 0 and "***" in shown.stdout and CANARY not in shown.stdout


def test_weir_serve_logs_and_answers_never_show_the_canary(tmp_path: Path) -> None:
    flow = flow_file(tmp_path, "{rest: {path: /c}}")
    served = Served(
        flow, "--store", f"sqlite:///{tmp_path}/store.db", env={"WEIR_SECRET_CANARY_VALUE": CANARY}
    )
    served.wait_ready()
    try:
        answer = httpx.post(served.url + "/c", json={"x": 1})
        assert answer.status_code == 200 and answer.json()["echo"] == "***"
        metrics = httpx.get(served.url + "/metrics").text
    finally:
        assert served.terminate() == 0
    logs = served.output()
    assert '"token is ***"' in logs and "***.txt" in logs
    assert CANARY not in logs and CANARY not in answer.text and CANARY not in metrics
    assert_no_canary_in_store(tmp_path)


def _only_id(listing: str) -> str:
    import json

    (execution,) = json.loads(listing)
    return str(execution["id"])


ENCODED_CANARY = 'c@n&ry"<7f3e>/9a+1b d0c4'
"""A value whose JSON, XML, URL and base64 forms all differ from it."""


def encoded_forms(value: str) -> dict[str, str]:
    import base64
    import json
    from urllib.parse import quote, quote_plus
    from xml.sax.saxutils import escape

    return {
        "raw": value,
        "json": json.dumps(value)[1:-1],
        "xml": escape(value, {'"': "&quot;"}),
        "url": quote(value, safe=""),
        "form": quote_plus(value),
        "base64": base64.b64encode(value.encode()).decode(),
    }


UNUSED_BRANCH = """\
apiVersion: weir.dev/v1alpha1
kind: Flow
metadata: {name: first}
spec:
  secrets: [{name: canary}]
  trigger: {rest: {path: /c}}
  nodes:
    - name: answer
      transform: {set: {seen: $.input}}
      when: [{condition: "has(input.never)", next: uses}]
    - name: uses
      http: {url: "http://127.0.0.1:9/never", auth: {bearer: {secret: canary, key: value}}}
"""


def test_the_first_execution_after_start_never_stores_the_canary_in_any_encoding(
    tmp_path: Path,
) -> None:
    """No node has read the secret yet when the first request arrives: the runner learned
    it at start, so the trigger payload and headers are scrubbed in every encoding a node
    could produce."""
    flow = tmp_path / "flow.yaml"
    flow.write_text(UNUSED_BRANCH)
    forms = encoded_forms(ENCODED_CANARY)
    served = Served(
        flow,
        "--store",
        f"sqlite:///{tmp_path}/store.db",
        env={"WEIR_SECRET_CANARY_VALUE": ENCODED_CANARY},
    )
    served.wait_ready()
    try:
        answer = httpx.post(
            served.url + "/c",
            json={"forms": forms, "text": " | ".join(forms.values())},
            headers={"X-Token": forms["base64"], "X-Url": forms["url"]},
        )
        assert answer.status_code == 200, answer.text
        metrics = httpx.get(served.url + "/metrics").text
    finally:
        assert served.terminate() == 0
    logs = served.output()
    for name, form in forms.items():
        assert form not in logs and form not in metrics, f"{name} form in the logs or metrics"
    for file in tmp_path.glob("store.db*"):
        stored = file.read_bytes()
        for name, form in forms.items():
            assert form.encode() not in stored, f"{name} form in {file.name}"
    for name, form in forms.items():
        assert form not in answer.text, f"{name} form in the answer"
