"""What runners call: ingest (idempotent, a bad batch refused whole with a 400 naming the
field) and the cancellations long poll."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.console.client import BOTH_STORES, Api, wire_execution


@BOTH_STORES
async def test_ingest_is_idempotent_by_execution_id(api: Api) -> None:
    batch = {"runner": "r1", "executions": [wire_execution(f"i{n}") for n in range(3)]}
    assert await api.post("/api/v1/ingest", batch) == {"accepted": 3}
    assert await api.post("/api/v1/ingest", batch) == {"accepted": 0}
    listed = await api.get("/api/v1/executions?namespace=team-a")
    assert sorted(row["id"] for row in listed["items"]) == ["i0", "i1", "i2"]
    view = await api.get("/api/v1/executions/i1")
    assert [node["seq"] for node in view["nodes"]] == [1, 2]

    # A later snapshot of the same execution changes it; an older one does not undo it.
    running = wire_execution("i9", status="running", nodes=1)
    finished = wire_execution("i9", status="succeeded", nodes=2)
    assert await api.post("/api/v1/ingest", {"runner": "r1", "executions": [running]}) == {
        "accepted": 1
    }
    assert await api.post("/api/v1/ingest", {"runner": "r1", "executions": [finished]}) == {
        "accepted": 1
    }
    await api.post("/api/v1/ingest", {"runner": "r1", "executions": [running]})
    view = await api.get("/api/v1/executions/i9")
    assert view["execution"]["status"] == "succeeded" and len(view["nodes"]) == 2
    metrics = await api.get("/metrics")
    assert "weir_console_ingested_executions_total 5.0" in metrics


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"executions": []}, "body.runner"),
        ({"runner": "r1"}, "body.executions"),
        ({"runner": "r1", "executions": [{"id": "x"}]}, "body.executions[0].flow"),
        (
            {
                "runner": "r1",
                "executions": [wire_execution("ok"), {**wire_execution("b"), "startedAt": "noon"}],
            },
            "body.executions[1].startedAt",
        ),
        (
            {"runner": "r1", "executions": [{**wire_execution("c"), "status": "done"}]},
            "body.executions[0].status",
        ),
        (
            {"runner": "r1", "executions": [{**wire_execution("d"), "startedAt": 1e300}]},
            "body.executions[0].startedAt",
        ),
        ([1, 2], "body"),
    ],
)
async def test_a_bad_batch_is_refused_whole_naming_the_field(
    api: Api, body: object, named: str
) -> None:
    problem = await api.post("/api/v1/ingest", body, expect=400)
    assert named in problem["detail"], problem
    assert (await api.get("/api/v1/executions"))["items"] == []


@BOTH_STORES
async def test_a_runner_long_polls_for_the_cancels_of_its_executions(api: Api) -> None:
    running = wire_execution("c1", status="running", nodes=0)
    await api.post("/api/v1/ingest", {"runner": "runner-7", "executions": [running]})
    assert await api.get("/api/v1/cancellations?runner=runner-7") == {"executions": []}

    poll = asyncio.create_task(api.get("/api/v1/cancellations?runner=runner-7&wait=10"))
    await asyncio.sleep(0.3)
    assert not poll.done()
    asked = time.monotonic()
    await api.post("/api/v1/executions/c1/cancel", expect=202)
    assert await poll == {"executions": ["c1"]}
    assert time.monotonic() - asked < 1.0
    # Another runner is not told; once the runner ships the cancelled record, nobody is.
    assert await api.get("/api/v1/cancellations?runner=runner-8") == {"executions": []}
    cancelled = wire_execution("c1", status="cancelled", nodes=0)
    await api.post("/api/v1/ingest", {"runner": "runner-7", "executions": [cancelled]})
    assert await api.get("/api/v1/cancellations?runner=runner-7") == {"executions": []}
    await api.post("/api/v1/executions/c1/cancel", expect=409)
