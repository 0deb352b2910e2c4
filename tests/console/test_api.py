"""The console's read API end to end, on a store seeded by running the example flows through
the API and by shipping executions as runners do: every list filter, cursor pages, content
search, one execution, one node run's payload, flows, and problems for bad requests."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from tests.console.client import BOTH_STORES, EMPTY_ORDER, GOOD_ORDER, Api, wire_execution

SHIPPED_AT = 1_700_000_000.0


async def seed(api: Api) -> dict[str, Any]:
    """Three hello runs, two good orders, two empty ones (failed), and four executions shipped
    in two namespaces at known times (one of them slow)."""
    runs = [
        *[await api.run("hello", {"name": f"Ada{n}"}) for n in range(3)],
        *[await api.run("code-example", GOOD_ORDER) for _ in range(2)],
        *[await api.run("code-example", EMPTY_ORDER) for _ in range(2)],
    ]
    views = [await api.finished(execution_id) for execution_id in runs]
    shipped = [
        wire_execution("s1", namespace="team-a", started=SHIPPED_AT, payload={"customer": "ACME"}),
        wire_execution("s2", namespace="team-a", started=SHIPPED_AT + 60, status="failed"),
        wire_execution("s3", namespace="team-b", started=SHIPPED_AT + 120),
        wire_execution("s4", namespace="team-b", started=SHIPPED_AT + 180),
    ]
    shipped[3]["finishedAt"] = SHIPPED_AT + 180 + 5  # 5 s long
    answer = await api.post("/api/v1/ingest", {"runner": "runner-1", "executions": shipped})
    assert answer == {"accepted": 4}
    return {"runs": runs, "views": views}


async def ids(api: Api, query: str) -> list[str]:
    page = await api.get(f"/api/v1/executions?{query}")
    return [row["id"] for row in page["items"]]


@BOTH_STORES
async def test_every_filter_narrows_the_list(api: Api) -> None:
    seeded = await seed(api)
    everything = await api.get("/api/v1/executions?limit=500")
    rows = everything["items"]
    assert len(rows) == 11 and everything["nextCursor"] is None
    started = [row["startedAt"] for row in rows]
    assert started == sorted(started, reverse=True)  # newest first
    assert all(len(json.dumps(row)) <= 1024 for row in rows)
    assert all("trigger" not in row and "result" not in row for row in rows)

    assert sorted(await ids(api, "flow=hello")) == sorted(seeded["runs"][:3])
    failed_runs = seeded["runs"][5:]
    assert sorted(await ids(api, "status=failed")) == sorted([*failed_runs, "s2"])
    assert len(await ids(api, "status=failed,succeeded&limit=100")) == 11
    assert sorted(await ids(api, "trigger=rest")) == ["s1", "s2", "s3", "s4"]
    assert sorted(await ids(api, "namespace=team-b")) == ["s3", "s4"]
    error_type = seeded["views"][5]["execution"]["errorType"]
    assert error_type
    assert sorted(await ids(api, f"errorType={error_type}")) == sorted(failed_runs)
    assert await ids(api, f"since={SHIPPED_AT + 60}&until={SHIPPED_AT + 180}") == ["s3", "s2"]
    iso = dt.datetime.fromtimestamp(SHIPPED_AT + 120, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert await ids(api, f"namespace=team-b&since={iso}") == ["s4", "s3"]
    assert await ids(api, "minDurationMs=1000") == ["s4"]
    assert sorted(await ids(api, "trigger=rest&maxDurationMs=1000")) == ["s1", "s2", "s3"]
    assert await ids(api, "flow=hello&status=failed") == []


@BOTH_STORES
async def test_cursor_pages_walk_the_whole_list_once(api: Api) -> None:
    await seed(api)
    whole = await ids(api, "limit=500")
    walked: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = "limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = await api.get(f"/api/v1/executions?{query}")
        walked += [row["id"] for row in page["items"]]
        pages += 1
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert walked == whole and pages == 4


@BOTH_STORES
async def test_content_search_by_text_and_by_jsonpath(api: Api) -> None:
    seeded = await seed(api)
    assert await ids(api, "q=ACME") == ["s1"]
    assert sorted(await ids(api, "q=Ada1")) == [seeded["runs"][1]]
    by_path = await ids(api, "jsonpath=" + '$.input.customer == "Bob"')
    assert sorted(by_path) == sorted(seeded["runs"][5:])
    problem = await api.get("/api/v1/executions?jsonpath=$$$(", expect=400)
    assert problem["status"] == 400 and "jsonpath" in problem["detail"].lower()


@BOTH_STORES
async def test_one_execution_and_one_node_run_with_its_payload(api: Api) -> None:
    execution_id = await api.run("code-example", GOOD_ORDER)
    view = await api.finished(execution_id)
    execution, nodes = view["execution"], view["nodes"]
    assert execution["status"] == "succeeded" and execution["flow"] == "code-example"
    assert execution["trigger"]["payload"] == GOOD_ORDER
    assert execution["result"]["customer"] == "ADA"
    assert [node["node"] for node in nodes] == ["received", "summarise"]
    assert all("input" not in node and "output" not in node for node in nodes)
    node = await api.get(f"/api/v1/executions/{execution_id}/nodes/2")
    assert node["node"] == "summarise" and node["input"]["input"]["customer"] == "Ada"
    assert node["output"]["total"] == 19.0
    missing = await api.get(f"/api/v1/executions/{execution_id}/nodes/9", expect=404)
    assert "no node run 9" in missing["detail"]


async def test_flows_with_their_recent_runs(api: Api) -> None:
    for name in ("Ada", "Grace"):
        await api.finished(await api.run("hello", {"name": name}))
    flows = {flow["name"]: flow for flow in (await api.get("/api/v1/flows"))["items"]}
    assert {"hello", "code-example", "slow"} <= set(flows)
    hello = flows["hello"]
    assert hello["trigger"] == "manual" and hello["status"] == "Ready"
    assert hello["successRate"] == 1.0 and len(hello["recentDurationsMs"]) == 2
    assert hello["lastRun"]["status"] == "succeeded"
    assert flows["slow"]["lastRun"] is None and flows["slow"]["successRate"] is None
    broken = flows["broken"]
    assert broken["status"] == "Invalid" and broken["conditions"][0]["status"] == "False"
    assert "teleport" in broken["conditions"][0]["message"]
    refused = await api.post("/api/v1/flows/broken/runs", {"input": {}}, expect=409)
    assert "invalid" in refused["detail"]
    detail = await api.get("/api/v1/flows/hello")
    assert detail["spec"]["nodes"][0]["name"] == "greet" and "kind: Flow" in detail["yaml"]
    assert (await api.get("/api/v1/flows?namespace=elsewhere"))["items"] == []
    await api.get("/api/v1/flows/nope", expect=404)


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("limit=0", "limit"),
        ("limit=many", "limit"),
        ("status=lost", "status"),
        ("since=yesterday", "since"),
        ("minDurationMs=-1", "minDurationMs"),
        ("cursor=not-a-cursor", "cursor"),
        ("limit=1&limit=2", "limit"),
        ("color=red", "color"),
    ],
)
async def test_a_bad_query_is_a_problem_naming_the_parameter(
    api: Api, query: str, named: str
) -> None:
    async with api.session.get(f"{api.base}/api/v1/executions?{query}") as response:
        assert response.status == 400
        assert response.content_type == "application/problem+json"
        problem = await response.json(content_type=None)
    assert problem["title"] == "Bad Request" and problem["status"] == 400
    assert named in problem["detail"], problem
    assert "Traceback" not in problem["detail"]


async def test_unknown_things_are_404_problems(api: Api) -> None:
    for path in ("/api/v1/executions/01NOSUCHID", "/api/v1/nothing-here"):
        async with api.session.get(api.base + path) as response:
            assert response.status == 404
            assert response.content_type == "application/problem+json"
            assert (await response.json(content_type=None))["status"] == 404
    async with api.session.delete(api.base + "/api/v1/executions") as response:
        assert response.status == 405
        assert response.content_type == "application/problem+json"


async def test_health_readiness_and_metrics(api: Api) -> None:
    assert await api.get("/healthz") == {"status": "ok"}
    assert await api.get("/readyz") == {"ready": True, "reason": None}
    await api.get("/api/v1/executions")
    metrics = await api.get("/metrics")
    assert (
        'weir_console_request_duration_seconds_count{method="GET",route="/api/v1/executions"'
        in metrics
    )
    assert "weir_console_event_subscribers 0.0" in metrics
