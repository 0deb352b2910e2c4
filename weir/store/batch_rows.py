"""What one batch of records becomes: the statements of its transaction, in order — the
runner's row (with its first records), the executions (each at its last snapshot in the
batch), the node runs, the writes of durable executions (weir.store.wait_writes) and the
events describing all of it. Plain driver executemany: compiling statements per row costs
more than the write (docs/recording.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from weir.store import events, wait_writes
from weir.store.events import Owners, execution_event, node_event
from weir.store.records import NodeRunRecord
from weir.store.rows import Encode, Snapshot, execution_row, node_row
from weir.store.statements import Statements
from weir.store.wait_writes import Parked, Resumed, WaitWrite

Record = Snapshot | NodeRunRecord | WaitWrite
Statement = tuple[str, Sequence[tuple[Any, ...]]]


def batch_statements(
    batch: Sequence[Record],
    sql: Statements,
    encode: Encode,
    *,
    runner: str,
    namespace: str,
    registration: Statement | None,
    owners: Owners | None = None,
) -> list[Statement]:
    latest: dict[str, Snapshot] = {}
    for item in batch:
        if isinstance(item, tuple):
            latest[item[0]] = item  # the last state in the batch wins; encode only that
    nodes = []
    durable: list[WaitWrite] = []
    happened = []  # events in the order recorded; an execution's at its last snapshot
    for item in batch:
        if isinstance(item, tuple):
            if latest[item[0]] is item:
                happened.append(execution_event(item[0], item[5], item[6], item[7]))
            continue
        if isinstance(item, NodeRunRecord):
            node, fresh = item, True
        else:
            durable.append(item)
            if not isinstance(item, Parked | Resumed):
                continue
            node, fresh = item.record, isinstance(item, Parked)  # a resumed one: updated
        if fresh:
            nodes.append(node_row(node, encode))
        happened.append(
            node_event(node.execution_id, node.status, node.node, node.seq, node.finished_at)
        )
    statements: list[Statement] = []
    if registration is not None:  # with its first records: never one without it
        statements.append(registration)
    if latest:
        rows = [execution_row(r, encode, runner, namespace) for r in latest.values()]
        statements.append((sql.upsert_executions, rows))
    if nodes:
        statements.append((sql.record_nodes, nodes))
    if durable:
        statements.extend(wait_writes.statements(durable, encode, sql.dialect))
    if happened:  # a batch of waits closed or resolved has none
        owned = None
        if owners is not None:
            batch_owners = {id: (r[1], r[11] or namespace, str(r[5])) for id, r in latest.items()}
            owned = owners.rows(happened, batch_owners)
        statements.append(events.appending(sql.dialect, happened, owned))
    return statements
