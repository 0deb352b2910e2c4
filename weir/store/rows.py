"""Records as table rows and back: what recording, ingest and reading share.

A snapshot is an execution record as it stood when recorded, a tuple in ``SNAPSHOT`` order:
a tuple costs a third of copying the dataclass on the recording path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from weir.store.encode import decode
from weir.store.records import ExecutionRecord, NodeRunRecord, error_type, iso_attempts
from weir.store.tables import executions, node_runs

Snapshot = tuple[Any, ...]
Encode = Callable[[Any], str | None]

EXECUTION_COLUMNS = [c.name for c in executions.columns]
"""The order of ``execution_row``'s values."""
NODE_COLUMNS = [c.name for c in node_runs.columns]
"""The order of ``node_row``'s values."""
ERROR_TYPE_LIMIT = 64
"""The length of ``weir_executions.error_type``."""


def snapshot(record: ExecutionRecord) -> Snapshot:
    return (
        record.id,
        record.flow,
        record.revision,
        record.trigger_kind,
        record.trigger,
        record.status,
        record.started_at,
        record.finished_at,
        record.error,
        record.result,
        record.replay_of,
        record.namespace,
    )


def execution_row(
    record: Snapshot, encode: Encode, runner: str | None, namespace: str
) -> tuple[Any, ...]:
    """In EXECUTION_COLUMNS order; ``namespace`` stands in for a record that has none."""
    id, flow, revision, kind, trigger, status, started, finished, error, result, of, ns = record
    return (
        id,
        flow,
        revision,
        kind,
        encode(trigger),
        str(status),  # a plain str: batches travel to the SQLite writer by marshal
        started,
        finished,
        None if finished is None else (finished - started) * 1000,
        encode(error),
        encode(result),
        of,
        runner,
        ns or namespace,
        stored_error_type(error),
    )


def stored_error_type(error: Any) -> str | None:
    """The error's type as the column holds it: cut to its length."""
    kind = error_type(error)
    return None if kind is None else kind[:ERROR_TYPE_LIMIT]


def node_row(record: NodeRunRecord, encode: Encode) -> tuple[Any, ...]:
    """In NODE_COLUMNS order."""
    return (
        record.execution_id,
        record.seq,
        record.node,
        record.kind,
        str(record.status),
        encode(record.attempts),
        record.started_at,
        record.finished_at,
        record.duration_ms,
        encode(record.input),
        encode(record.output),
        encode(record.error),
    )


def execution_of(row: Any) -> ExecutionRecord:
    """A record from a row mapping of ``weir_executions``."""
    return ExecutionRecord(
        id=row["id"],
        flow=row["flow"],
        revision=row["revision"],
        trigger_kind=row["trigger_kind"],
        trigger=decode(row["trigger"]) or {},
        status=row["status"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        error=decode(row["error"]),
        result=decode(row["result"]),
        replay_of=row["replay_of"],
        namespace=row["namespace"],
    )


def node_of(row: Any) -> NodeRunRecord:
    """A record from a row mapping of ``weir_node_runs`` (input and output None when the
    query left them out)."""
    return NodeRunRecord(
        execution_id=row["execution_id"],
        seq=row["seq"],
        node=row["node"],
        kind=row["kind"],
        status=row["status"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        attempts=iso_attempts(decode(row["attempts"]) or []),
        input=decode(row.get("input")),
        output=decode(row.get("output")),
        error=decode(row["error"]),
    )


def placeholders(dialect: str, count: int) -> str:
    mark = "?" if dialect == "sqlite" else "%s"
    return ", ".join(mark for _ in range(count))
