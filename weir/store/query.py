"""Lists of executions for the console: filters compiled to SQL over indexed columns, summary
rows that never carry payloads, and keyset pages on ``(started_at, id)``, newest first.

A page costs the same however deep it is: the cursor names the last row shown, and the next
page starts below it on an index (``weir.store.tables``). There is no count: a count over a
million rows is what makes other consoles slow.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, false, func, literal, select, tuple_
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from weir.store.records import Status
from weir.store.search import InvalidQuery, condition, contains, parse
from weir.store.tables import executions

__all__ = ["ExecutionFilter", "ExecutionSummary", "InvalidQuery", "SummaryPage"]

MAX_LIMIT = 500
MESSAGE_LIMIT = 200
ROW_LIMIT = 1024
"""A summary row as JSON is at most this many bytes, however written (spaces after separators,
non-ASCII escaped or not): its error message is cut to fit."""


@dataclass(frozen=True)
class ExecutionFilter:
    flow: str | None = None
    namespace: str | None = None
    """None: any namespace."""
    namespaces: frozenset[str] | None = None
    """The namespaces the caller may read (from authorisation); None: all of them."""
    statuses: tuple[str, ...] = ()
    trigger: str | None = None
    """The trigger kind: rest, schedule, amqp …"""
    error_type: str | None = None
    started_after: float | None = None
    """Epoch seconds, inclusive."""
    started_before: float | None = None
    """Epoch seconds, exclusive."""
    min_duration_ms: float | None = None
    max_duration_ms: float | None = None
    text: str | None = None
    """A substring of the trigger payload, the result or the error (weir.store.search)."""
    jsonpath: str | None = None
    """A predicate such as ``$.input.customer == "ACME"`` (weir.store.search)."""
    replay_of: str | None = None


@dataclass
class ExecutionSummary:
    """A list row: never payloads; at most ``ROW_LIMIT`` bytes as JSON."""

    id: str
    flow: str
    namespace: str
    revision: str
    trigger_kind: str
    status: str
    started_at: float
    finished_at: float | None
    duration_ms: float | None
    error_type: str | None
    error_message: str | None
    """The first 200 characters of the error's message."""
    replay_of: str | None


@dataclass
class SummaryPage:
    items: list[ExecutionSummary]
    next_cursor: str | None
    """Pass it back for the next page; None on the last one."""


async def summaries(
    connection: AsyncConnection,
    dialect: str,
    wanted: ExecutionFilter,
    cursor: str | None,
    limit: int,
) -> SummaryPage:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidQuery(f"limit: {limit!r}; use 1 to {MAX_LIMIT}")
    query = _select(dialect).where(*conditions(wanted, dialect))
    if cursor is not None:
        started, id = decode_cursor(cursor)
        query = query.where(
            tuple_(executions.c.started_at, executions.c.id) < tuple_(literal(started), literal(id))
        )
    query = query.order_by(executions.c.started_at.desc(), executions.c.id.desc()).limit(limit + 1)
    rows = (await connection.execute(query)).all()
    items = [_fit(ExecutionSummary(*row)) for row in rows[:limit]]
    more = len(rows) > limit
    return SummaryPage(items, encode_cursor(items[-1]) if more else None)


def conditions(wanted: ExecutionFilter, dialect: str) -> list[ColumnElement[bool]]:
    """The filter as SQL conditions on ``weir_executions``."""
    c = executions.c
    found: list[ColumnElement[bool]] = []
    equal = {
        c.flow: wanted.flow,
        c.namespace: wanted.namespace,
        c.trigger_kind: wanted.trigger,
        c.error_type: wanted.error_type,
        c.replay_of: wanted.replay_of,
    }
    found.extend(column == value for column, value in equal.items() if value is not None)
    if wanted.namespaces is not None:
        allowed = sorted(wanted.namespaces)
        found.append(c.namespace.in_(allowed) if allowed else false())
    if wanted.statuses:
        found.append(c.status.in_(_statuses(wanted.statuses)))
    bounds = [
        (c.started_at, ">=", wanted.started_after, "started_after"),
        (c.started_at, "<", wanted.started_before, "started_before"),
        (c.duration_ms, ">=", wanted.min_duration_ms, "min_duration_ms"),
        (c.duration_ms, "<=", wanted.max_duration_ms, "max_duration_ms"),
    ]
    for column, operator, value, name in bounds:
        if value is not None:
            found.append(column.op(operator)(_number(name, value)))
    if wanted.text is not None:
        found.append(contains(wanted.text, dialect))
    if wanted.jsonpath is not None:
        found.append(condition(parse(wanted.jsonpath), dialect))
    return found


def _statuses(statuses: tuple[str, ...]) -> list[str]:
    known = {s.value for s in Status}
    for status in statuses:
        if status not in known:
            raise InvalidQuery(f"status {status!r}: use one of {', '.join(sorted(known))}")
    return sorted(set(statuses))


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise InvalidQuery(f"{name}: {value!r} is not a number")
    return float(value)


def _select(dialect: str) -> Select[Any]:
    c = executions.c
    if dialect == "postgresql":
        error = c.error.cast(JSONB)
        message: Any = case(
            (
                func.jsonb_typeof(error.op("->")("message")) == "string",
                func.left(error.op("->>")("message"), MESSAGE_LIMIT),
            ),
            else_=None,
        )
    else:  # json_type on text that is not JSON would fail the whole query
        message = case(
            (
                and_(func.json_valid(c.error), func.json_type(c.error, "$.message") == "text"),
                func.substr(func.json_extract(c.error, "$.message"), 1, MESSAGE_LIMIT),
            ),
            else_=None,
        )
    return select(
        c.id,
        c.flow,
        c.namespace,
        c.revision,
        c.trigger_kind,
        c.status,
        c.started_at,
        c.finished_at,
        c.duration_ms,
        c.error_type,
        message,
        c.replay_of,
    )


def _fit(summary: ExecutionSummary) -> ExecutionSummary:
    """Cut the error message until the row is within ROW_LIMIT bytes as JSON."""
    message = summary.error_message
    if message is None:
        return summary
    size = _largest_json(summary)
    while size > ROW_LIMIT and message:
        over = size - ROW_LIMIT
        message = message[: max(0, len(message) - max(over // 12, 1))]
        summary.error_message = message
        size = _largest_json(summary)
    return summary


def _largest_json(summary: ExecutionSummary) -> int:
    """Bytes of the largest usual rendering: ``json.dumps``'s, escaping every non-ASCII
    character (up to 12 bytes for one character, where UTF-8 takes 4)."""
    return len(json.dumps(dataclasses.asdict(summary)))


def encode_cursor(last: ExecutionSummary) -> str:
    raw = json.dumps([last.started_at, last.id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        started, id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError):
        raise InvalidQuery(f"cursor {cursor[:40]!r}: not one this store handed out") from None
    if isinstance(started, bool) or not isinstance(started, int | float) or not isinstance(id, str):
        raise InvalidQuery(f"cursor {cursor[:40]!r}: not one this store handed out")
    return float(started), id
