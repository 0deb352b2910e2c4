"""Executions as JSON between processes: what a runner ships to the console (``POST
/api/v1/ingest``) and what the console reads back. One codec, so that both sides agree.

Times are epoch seconds (floats), names camelCase. Reading checks every field and names the
one that is wrong (``executions[3].nodes[0].seq: expected an integer``).
"""

from __future__ import annotations

from typing import Any

from weir.store.records import ExecutionRecord, NodeRunRecord, Status

Shipped = tuple[ExecutionRecord, list[NodeRunRecord]]


class WireError(ValueError):
    """A shipped execution that cannot be read; the message names the field."""


def execution_to_wire(record: ExecutionRecord, nodes: list[NodeRunRecord]) -> dict[str, Any]:
    return {
        "id": record.id,
        "flow": record.flow,
        "namespace": record.namespace,
        "revision": record.revision,
        "triggerKind": record.trigger_kind,
        "trigger": record.trigger,
        "status": str(record.status),
        "startedAt": record.started_at,
        "finishedAt": record.finished_at,
        "error": record.error,
        "result": record.result,
        "replayOf": record.replay_of,
        "nodes": [node_to_wire(node) for node in nodes],
    }


def node_to_wire(node: NodeRunRecord) -> dict[str, Any]:
    return {
        "seq": node.seq,
        "node": node.node,
        "kind": node.kind,
        "status": str(node.status),
        "startedAt": node.started_at,
        "finishedAt": node.finished_at,
        "attempts": node.attempts,
        "input": node.input,
        "output": node.output,
        "error": node.error,
    }


def execution_from_wire(data: Any, where: str = "execution") -> Shipped:
    fields = _Fields(data, where)
    record = ExecutionRecord(
        id=fields.text("id", limit=32),
        flow=fields.text("flow", limit=253),
        namespace=fields.text("namespace", limit=63, default=""),
        revision=fields.text("revision", limit=64),
        trigger_kind=fields.text("triggerKind", limit=16),
        trigger=fields.mapping("trigger"),
        status=fields.status("status"),
        started_at=fields.number("startedAt"),
        finished_at=fields.number("finishedAt", optional=True),
        error=fields.mapping("error", optional=True),
        result=fields.raw("result"),
        replay_of=fields.optional_text("replayOf", limit=32),
    )
    nodes_data = fields.raw("nodes")
    if nodes_data is None:
        nodes_data = []
    if not isinstance(nodes_data, list):
        raise WireError(f"{where}.nodes: expected a list")
    nodes = [
        node_from_wire(node, record.id, f"{where}.nodes[{index}]")
        for index, node in enumerate(nodes_data)
    ]
    return record, nodes


def node_from_wire(data: Any, execution_id: str, where: str) -> NodeRunRecord:
    fields = _Fields(data, where)
    attempts = fields.raw("attempts")
    if attempts is None:
        attempts = []
    if not isinstance(attempts, list) or not all(isinstance(a, dict) for a in attempts):
        raise WireError(f"{where}.attempts: expected a list of objects")
    return NodeRunRecord(
        execution_id=execution_id,
        seq=fields.integer("seq"),
        node=fields.text("node", limit=63),
        kind=fields.text("kind", limit=32),
        status=fields.status("status"),
        started_at=fields.number("startedAt"),
        finished_at=fields.number("finishedAt"),
        attempts=attempts,
        input=fields.raw("input"),
        output=fields.raw("output"),
        error=fields.mapping("error", optional=True),
    )


class _Fields:
    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise WireError(f"{where}: expected an object")
        self.data = data
        self.where = where

    def raw(self, name: str) -> Any:
        return self.data.get(name)

    def _fail(self, name: str, expected: str) -> WireError:
        return WireError(f"{self.where}.{name}: expected {expected}")

    def text(self, name: str, *, limit: int, default: str | None = None) -> str:
        value = self.data.get(name, default)
        if not isinstance(value, str) or (not value and default is None):
            raise self._fail(name, "a non-empty string")
        if len(value) > limit:
            raise self._fail(name, f"at most {limit} characters")
        return value

    def optional_text(self, name: str, *, limit: int) -> str | None:
        if self.data.get(name) is None:
            return None
        return self.text(name, limit=limit)

    def number(self, name: str, *, optional: bool = False) -> Any:
        value = self.data.get(name)
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._fail(name, "a number of epoch seconds")
        return float(value)

    def integer(self, name: str) -> int:
        value = self.data.get(name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(name, "an integer")
        return value

    def mapping(self, name: str, *, optional: bool = False) -> Any:
        value = self.data.get(name)
        if value is None:
            if optional:
                return None
            return {}
        if not isinstance(value, dict):
            raise self._fail(name, "an object")
        return value

    def status(self, name: str) -> Status:
        value = self.data.get(name)
        try:
            return Status(str(value))
        except ValueError:
            choices = ", ".join(s.value for s in Status)
            raise self._fail(name, f"one of {choices}") from None
