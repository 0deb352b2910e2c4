"""A case's expectations checked against its finished execution: the status, the result, the
nodes that ran, their outputs and the execution's error. Each failure keeps the place in the
test file it is about (``spec.cases.N.expect...``) for its line."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from weir.engine.events import ExecutionResult
from weir.flow.issues import Loc
from weir.harness.matching import match, show
from weir.harness.spec import Expect, NodesTaken
from weir.store.records import Status


@dataclass(frozen=True)
class Failure:
    loc: Loc
    """In the test file: ``("spec", "cases", 0, "expect", "outputs", "price", 0, "total")``."""
    message: str


def check(
    expect: Expect, result: ExecutionResult, requests: list[dict[str, Any]], at: Loc
) -> list[Failure]:
    """Every expectation ``result`` (and the HTTP ``requests`` it made) does not meet; ``at``
    is the ``expect`` mapping's loc."""
    failures = list(_check(expect, result, at))
    if "requests" in expect.model_fields_set:
        failures += _matched(expect.requests, requests, (*at, "requests"))
    return failures


def _check(expect: Expect, result: ExecutionResult, at: Loc) -> Iterator[Failure]:
    wanted = expect.wanted_status()
    if str(result.status) != wanted:
        yield Failure((*at, "status"), _status_message(wanted, result))
    written = expect.model_fields_set
    if "result" in written:
        yield from _matched(expect.result, result.result, (*at, "result"))
    if "error" in written:
        yield from _matched(expect.error, result.error, (*at, "error"))
    if expect.nodes is not None:
        yield from _taken(expect.nodes, [record.node for record in result.nodes], (*at, "nodes"))
    records = {record.node: record for record in result.nodes}
    for node, expected in expect.outputs.items():
        loc = (*at, "outputs", node)
        record = records.get(node)
        if record is None:
            yield Failure(loc, f"expected node {node!r} to run; it did not")
        elif record.status != Status.SUCCEEDED:
            message = (record.error or {}).get("message")
            yield Failure(loc, f"expected node {node!r} to succeed; it {record.status}: {message}")
        else:
            yield from _matched(expected, record.output, loc)
    for node, count in expect.attempts.items():
        record = records.get(node)
        tried = len(record.attempts) if record is not None else 0
        if tried != count:
            yield Failure((*at, "attempts", node), f"expected {count} attempts, got {tried}")


def _status_message(wanted: str, result: ExecutionResult) -> str:
    got = f"expected the execution to have {wanted}, it {result.status}"
    error = result.error or {}
    if result.status == Status.FAILED:
        where = f"node {error['node']!r}: " if error.get("node") else ""
        return f"{got} ({where}{error.get('message')})"
    return got


def _matched(expected: Any, actual: Any, at: Loc) -> Iterator[Failure]:
    for mismatch in match(expected, actual):
        yield Failure((*at, *mismatch.loc), mismatch.message)


def _taken(expected: list[str] | NodesTaken, ran: list[str], at: Loc) -> Iterator[Failure]:
    shown = f"ran {show(ran)}"
    if isinstance(expected, list):
        if expected != ran:
            yield Failure(at, f"expected the nodes {show(expected)} in this order; {shown}")
        return
    if expected.anyOrder is not None and sorted(expected.anyOrder) != sorted(ran):
        yield Failure(
            (*at, "anyOrder"), f"expected the nodes {show(sorted(expected.anyOrder))}; {shown}"
        )
    missing = [node for node in expected.includes if node not in ran]
    if missing:
        yield Failure((*at, "includes"), f"expected {show(missing)} to run; {shown}")
    extra = [node for node in expected.excludes if node in ran]
    if extra:
        yield Failure((*at, "excludes"), f"expected {show(extra)} not to run; {shown}")
