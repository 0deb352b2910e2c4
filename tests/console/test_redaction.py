"""Redaction holds across the API as in the store: a secret a run's input carries is `***` in
the execution, its node payloads and the event stream, and a search for it finds nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.console.client import Api, api_for, events
from weir.console.server import ConsoleOptions, ConsoleServer

SECRET = "s3cr3t-t0ken-for-the-crm"
FLOW = """\
apiVersion: weir.dev/v1alpha1
kind: Flow
metadata: {name: secretive}
spec:
  trigger: {manual: {}}
  secrets:
    - name: crm
  nodes:
    - name: keep
      transform:
        merge:
          - $.input
          - {seen: true}
      onError: push
    - name: push
      http:
        url: http://127.0.0.1:9/contacts
        auth: {bearer: {secret: crm, key: token}}
"""


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    (tmp_path / "flow.yaml").write_text(FLOW)
    (tmp_path / "secrets" / "crm").mkdir(parents=True)
    (tmp_path / "secrets" / "crm" / "token").write_text(SECRET)
    options = ConsoleOptions(
        paths=[str(tmp_path / "flow.yaml")],
        store=f"sqlite:///{tmp_path}/console.db",
        port=0,
        secrets_dir=str(tmp_path / "secrets"),
        retain_days=0,
        retain_per_flow=0,
        grace=2,
    )
    server = ConsoleServer(options)
    await server.start()
    try:
        async for client in api_for(server):
            yield client
    finally:
        await server.stop()


async def test_a_secret_in_the_input_is_redacted_everywhere_the_api_shows_it(api: Api) -> None:
    execution_id = await api.run("secretive", {"note": f"token is {SECRET}", "n": 1})
    done = await api.finished(execution_id)
    detail = await api.get(f"/api/v1/executions/{execution_id}")
    first = await api.get(f"/api/v1/executions/{execution_id}/nodes/1")
    shown = [done, detail, first, await api.get("/api/v1/executions")]
    stream = await events(
        api.session, f"{api.base}/api/v1/events?lastEventId=0", until=lambda found: bool(found)
    )
    for body in [*shown, *(event.data for event in stream)]:
        assert SECRET not in str(body)
    assert first["input"] is not None or first["output"] is not None
    assert "token is ***" in str(first["output"])
    found = await api.get("/api/v1/executions", params={"q": SECRET})
    assert found["items"] == []
