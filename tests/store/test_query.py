"""Lists for the console: keyset pages that never repeat or skip a row (ties on started_at
included), every filter, content search by text and by jsonpath, errors that name what is
wrong, and list rows that stay within 1 KB as JSON. SQLite and PostgreSQL alike."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from tests.store.builders import execution
from weir.store import open_store
from weir.store.query import ExecutionFilter, InvalidQuery, SummaryPage
from weir.store.records import ExecutionRecord
from weir.store.sql import SqlExecutionStore


async def recorded(store: SqlExecutionStore, *records: ExecutionRecord) -> list[ExecutionRecord]:
    for record in records:
        store.record_execution(record)
    await store.flush()
    return list(records)


def newest_first(records: list[ExecutionRecord]) -> list[str]:
    return [r.id for r in sorted(records, key=lambda r: (r.started_at, r.id), reverse=True)]


async def every_page(
    store: SqlExecutionStore, wanted: ExecutionFilter, limit: int
) -> tuple[list[str], int]:
    ids: list[str] = []
    pages = 0
    cursor = None
    while True:
        page: SummaryPage = await store.list_summaries(wanted, cursor=cursor, limit=limit)
        pages += 1
        ids.extend(item.id for item in page.items)
        if page.next_cursor is None:
            return ids, pages
        cursor = page.next_cursor


async def ids(store: SqlExecutionStore, **wanted: Any) -> list[str]:
    page = await store.list_summaries(ExecutionFilter(**wanted), limit=500)
    return [item.id for item in page.items]


async def test_pages_neither_repeat_nor_skip_rows_with_equal_start_times(
    store: SqlExecutionStore,
) -> None:
    # 33 executions over 4 start times: most pages end inside a group of equal times.
    records = await recorded(
        store, *(execution(started_at=1.7e9 + i % 4, flow="ab"[i % 2]) for i in range(33))
    )
    found, pages = await every_page(store, ExecutionFilter(), limit=5)
    assert found == newest_first(records) and pages == 7
    found, _ = await every_page(store, ExecutionFilter(flow="a"), limit=4)
    assert found == newest_first([r for r in records if r.flow == "a"])
    found, pages = await every_page(store, ExecutionFilter(), limit=33)
    assert len(found) == 33 and pages == 1  # exactly one page: no empty page after it


async def test_a_row_added_while_paging_is_not_shown_twice_and_moves_nothing(
    store: SqlExecutionStore,
) -> None:
    records = await recorded(store, *(execution() for _ in range(10)))
    first = await store.list_summaries(ExecutionFilter(), limit=4)
    await recorded(store, execution(started_at=3e9))  # newer than every row
    assert [i.id for i in first.items] == newest_first(records)[:4]
    second = await store.list_summaries(ExecutionFilter(), cursor=first.next_cursor, limit=4)
    assert [i.id for i in second.items] == newest_first(records)[4:8]


async def test_each_filter(store: SqlExecutionStore) -> None:
    timeout = {"type": "timeout", "message": "too slow"}
    a = execution(flow="orders", namespace="shop", started_at=100.0, duration=1.0)
    b = execution(flow="orders", namespace="ops", status="failed", error=timeout, started_at=200.0)
    c = execution(flow="billing", namespace="shop", status="running", started_at=300.0)
    d = execution(flow="billing", trigger_kind="rest", replay_of=b.id, started_at=400.0, duration=5)
    await recorded(store, a, b, c, d)
    assert await ids(store) == [d.id, c.id, b.id, a.id]
    assert await ids(store, flow="orders") == [b.id, a.id]
    assert await ids(store, namespace="shop") == [c.id, a.id]
    assert await ids(store, namespace="") == [d.id]
    assert await ids(store, namespaces=frozenset({"ops", ""})) == [d.id, b.id]
    assert await ids(store, namespaces=frozenset()) == []
    assert await ids(store, statuses=("failed", "running")) == [c.id, b.id]
    assert await ids(store, statuses=("succeeded",), flow="billing") == [d.id]
    assert await ids(store, trigger="rest") == [d.id]
    assert await ids(store, error_type="timeout") == [b.id]
    assert await ids(store, started_after=200.0) == [d.id, c.id, b.id]
    assert await ids(store, started_before=300.0) == [b.id, a.id]
    assert await ids(store, started_after=200.0, started_before=400.0) == [c.id, b.id]
    assert await ids(store, min_duration_ms=1000.0) == [d.id, a.id]  # running has none
    assert await ids(store, max_duration_ms=1000.0) == [b.id, a.id]
    assert await ids(store, replay_of=b.id) == [d.id]


async def test_a_summary_row_has_no_payloads_and_the_first_200_characters_of_the_message(
    store: SqlExecutionStore,
) -> None:
    message = "x" * 500
    record = execution(
        status="failed",
        error={"type": "http", "message": message, "body": "y" * 5000},
        payload={"big": "z" * 5000},
        started_at=10.0,
        duration=2.0,
    )
    await recorded(store, record)
    (row,) = (await store.list_summaries(ExecutionFilter())).items
    assert dataclasses.asdict(row) == {
        "id": record.id,
        "flow": "orders",
        "namespace": "",
        "revision": "r1",
        "trigger_kind": "manual",
        "status": "failed",
        "started_at": 10.0,
        "finished_at": 12.0,
        "duration_ms": 2000.0,
        "error_type": "http",
        "error_message": "x" * 200,
        "replay_of": None,
    }


async def test_list_rows_stay_within_1_kb_as_json(store: SqlExecutionStore) -> None:
    longest = execution(
        flow="f" * 253,
        namespace="n" * 63,
        status="failed",
        error={"type": "t" * 64, "message": "€" * 300},  # three bytes each in UTF-8
        replay_of="r" * 32,
    )
    await recorded(store, longest, execution(error={"message": 42}))
    rows = (await store.list_summaries(ExecutionFilter())).items
    for ascii in (True, False):
        sizes = [len(json.dumps(dataclasses.asdict(r), ensure_ascii=ascii).encode()) for r in rows]
        assert max(sizes) <= 1024
    assert rows[0].error_message is None  # a message that is not text is not shown
    assert rows[1].error_message and set(rows[1].error_message) == {"€"}


async def test_text_search_finds_a_substring_of_the_input_the_output_or_the_error(
    store: SqlExecutionStore,
) -> None:
    a = execution(payload={"customer": {"name": "ACME Corp"}})
    b = execution(result={"invoice": "INV-100%"})
    c = execution(status="failed", error={"type": "http", "message": "acme refused"})
    await recorded(store, a, b, c, execution(payload={"customer": "other"}))
    assert await ids(store, text="ACME") == [c.id, a.id]  # any case
    assert await ids(store, text="100%") == [b.id]
    assert await ids(store, text="0%") == [b.id]
    assert await ids(store, text="_") == []  # a wildcard in LIKE, taken literally
    assert await ids(store, text="acme", flow="nope") == []


async def test_jsonpath_compares_a_value_deep_in_the_input_output_or_error(
    store: SqlExecutionStore,
) -> None:
    a = execution(payload={"order": {"lines": [{"qty": 3}], "customer": "ACME"}, "ok": True})
    b = execution(payload={"order": {"lines": [{"qty": 1}], "customer": "Other"}, "ok": False})
    c = execution(payload={"order": {"customer": 5}, "tags": ["ACME"]}, result={"total": 12.5})
    d = execution(status="failed", error={"type": "timeout"}, result={"odd key": "v"})
    await recorded(store, a, b, c, d)
    assert await ids(store, jsonpath='$.input.order.customer == "ACME"') == [a.id]
    assert await ids(store, jsonpath='$.input.order.customer != "ACME"') == [b.id]  # strings only
    assert await ids(store, jsonpath="$.input.order.lines[0].qty > 2") == [a.id]
    assert await ids(store, jsonpath="$.input.order.lines[0].qty <= 3") == [b.id, a.id]
    assert await ids(store, jsonpath="$.input.ok == true") == [a.id]
    assert await ids(store, jsonpath="$.input.ok != true") == [b.id]
    assert await ids(store, jsonpath="$.input.order.customer == 5") == [c.id]
    assert await ids(store, jsonpath='$.input.tags == "ACME"') == []  # no search inside arrays
    assert await ids(store, jsonpath='$.input.tags[0] == "ACME"') == [c.id]
    assert await ids(store, jsonpath="$.output.total >= 12.5") == [c.id]
    assert await ids(store, jsonpath='$.output."odd key" == "v"') == [d.id]
    assert await ids(store, jsonpath='$.error.type == "timeout"') == [d.id]
    assert await ids(store, jsonpath='$.error.type == "timeout"', statuses=("running",)) == []


@pytest.mark.parametrize(
    ("jsonpath", "named"),
    [
        ("input.a == 1", "must start with \\$"),
        ("$.payload.a == 1", r"starts with \$.input, \$.output or \$.error"),
        ("$.input.a", "no comparison"),
        ("$.input.a ~ 1", "expected .key, \\[index\\] or one of"),
        ("$.input.a == ", "missing a value"),
        ("$.input.a == 'x'", "is not a value"),
        ('$.input.a == "x', "is not one JSON string"),
        ("$.input.a < true", "only with == and !="),
        ("$.input.a == 1 || 1", "is not a value"),
    ],
)
async def test_a_bad_jsonpath_is_refused_naming_what_is_wrong(
    store: SqlExecutionStore, jsonpath: str, named: str
) -> None:
    with pytest.raises(InvalidQuery, match=named):
        await store.list_summaries(ExecutionFilter(jsonpath=jsonpath))


@pytest.mark.parametrize(
    ("wanted", "cursor", "limit", "named"),
    [
        (ExecutionFilter(), "not-a-cursor", 50, "cursor 'not-a-cursor'"),
        (ExecutionFilter(), "WzEsMl0", 50, "cursor"),  # [1,2]: the id is not text
        (ExecutionFilter(), None, 0, "limit: 0; use 1 to 500"),
        (ExecutionFilter(), None, 501, "limit: 501"),
        (ExecutionFilter(statuses=("done",)), None, 50, "status 'done': use one of"),
        (ExecutionFilter(started_after="yesterday"), None, 50, "started_after"),  # type: ignore[arg-type]
        (ExecutionFilter(text=""), None, 50, "text: empty"),
    ],
)
async def test_a_bad_filter_cursor_or_limit_is_refused(
    store: SqlExecutionStore, wanted: ExecutionFilter, cursor: str | None, limit: int, named: str
) -> None:
    with pytest.raises(InvalidQuery, match=named):
        await store.list_summaries(wanted, cursor=cursor, limit=limit)
    assert isinstance(InvalidQuery("x"), ValueError)


async def test_postgresql_answers_an_equality_jsonpath_from_the_gin_index(
    fresh_postgres_url: str,
) -> None:
    from sqlalchemy import select

    from weir.store.query import conditions
    from weir.store.tables import executions

    store = open_store(fresh_postgres_url)
    await store.start()
    try:
        assert store._engine is not None
        wanted = ExecutionFilter(jsonpath='$.input.order.customer == "ACME"')
        query = select(executions.c.id).where(*conditions(wanted, "postgresql"))
        compiled = query.compile(store._engine.sync_engine, compile_kwargs={"literal_binds": True})
        async with store._engine.connect() as connection:
            await connection.exec_driver_sql("SET enable_seqscan = off")
            plan = (await connection.exec_driver_sql(f"EXPLAIN {compiled}")).scalars().all()
        assert "ix_weir_executions_trigger_json" in "\n".join(plan)
    finally:
        await store.aclose()
