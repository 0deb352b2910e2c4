"""Revision 0003 (the console): a store at revision 0002 keeps every execution, gets the
error type of each from its error, and lists, searches and records as a new one does."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine

from tests.store.builders import execution
from weir.store import open_store
from weir.store.migrations import alembic_config
from weir.store.query import ExecutionFilter

ROWS = [
    ("e1", "orders", "succeeded", 1.0, None, '{"payload": {"customer": "ACME"}}'),
    ("e2", "orders", "failed", 2.0, '{"type": "timeout", "message": "slow"}', "{}"),
    ("e3", "billing", "failed", 3.0, '{"message": "no type"}', "{}"),
]


def at_revision_0002(url: str) -> None:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0002")
        for id, flow, status, started, error, trigger in ROWS:
            connection.exec_driver_sql(
                "INSERT INTO weir_executions (id, flow, revision, trigger_kind, trigger, status, "
                "started_at, finished_at, duration_ms, error, runner) VALUES "
                f"('{id}', '{flow}', 'r0', 'manual', '{trigger}', '{status}', {started}, "
                f"{started + 1}, 1000.0, {'NULL' if error is None else repr(error)}, 'gone')"
            )
    engine.dispose()


async def test_a_store_at_revision_0002_upgrades_without_losing_executions(
    store_url: str,
) -> None:
    at_revision_0002(store_url)
    store = open_store(store_url)
    await store.start()
    try:
        listed = await store.list_executions(limit=10)
        assert [r.id for r in listed] == ["e3", "e2", "e1"]
        assert [r.error_type for r in listed] == [None, "timeout", None]
        page = await store.list_summaries(ExecutionFilter(error_type="timeout"))
        assert [(i.id, i.error_message, i.namespace) for i in page.items] == [("e2", "slow", "")]
        found = await store.list_summaries(ExecutionFilter(jsonpath='$.input.customer == "ACME"'))
        assert [i.id for i in found.items] == ["e1"]
        assert await store.last_event_seq() == 0  # what was there before has no events
        new = execution()
        store.record_execution(new)
        await store.flush()
        assert [e.execution_id for e in await store.events_after(0)] == [new.id]
        assert (await store.get_execution("e2")) is not None
    finally:
        await store.aclose()
