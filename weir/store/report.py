"""How `weir executions` prints records: a table, a node-by-node detail, or JSON."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from weir.lang.expressions import json_default
from weir.store.records import ExecutionRecord, NodeRunRecord, iso_time

DETAIL_LIMIT = 2000


def _time(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _duration(ms: float | None) -> str:
    if ms is None:
        return "-"
    return f"{ms:.1f}ms" if ms < 1000 else f"{ms / 1000:.2f}s"


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def executions_table(records: list[ExecutionRecord]) -> str:
    if not records:
        return "no executions recorded"
    header = ("ID", "FLOW", "STATUS", "STARTED (UTC)", "DURATION", "TRIGGER", "ERROR")
    rows = [
        (
            r.id,
            r.flow,
            r.status,
            _time(r.started_at),
            _duration(r.duration_ms),
            r.trigger_kind,
            _short(_error_text(r.error), 60),
        )
        for r in records
    ]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join(lines)


def _error_text(error: dict[str, Any] | None) -> str:
    if not error:
        return ""
    where = f"{error['node']}: " if error.get("node") else ""
    return f"{where}{error.get('message', '')}"


def _block(value: Any) -> str:
    text = json.dumps(value, indent=2, default=json_default, ensure_ascii=False)
    if len(text) > DETAIL_LIMIT:
        text = (
            text[:DETAIL_LIMIT]
            + f"\n… ({len(text) - DETAIL_LIMIT} more characters; --json shows all)"
        )
    return "\n".join("      " + line for line in text.splitlines())


def execution_detail(record: ExecutionRecord, nodes: list[NodeRunRecord]) -> str:
    lines = [
        f"execution  {record.id}",
        f"flow       {record.flow} (revision {record.revision})",
        f"status     {record.status}",
        f"trigger    {record.trigger_kind}",
        f"started    {_time(record.started_at)} UTC",
        f"duration   {_duration(record.duration_ms)}",
    ]
    if record.replay_of:
        lines.append(f"replay of  {record.replay_of}")
    if record.error:
        lines.append(
            f"error      {_error_text(record.error)} ({record.error.get('type')}, "
            f"{'retryable' if record.error.get('retryable') else 'not retryable'})"
        )
    lines.append("")
    for node in nodes:
        lines.append(
            f"[{node.seq}] {node.node} ({node.kind}) {node.status} in {_duration(node.duration_ms)}"
        )
        if len(node.attempts) > 1 or any(a.get("error") for a in node.attempts):
            for attempt in node.attempts:
                error = attempt.get("error")
                outcome = f"{error.get('type')}: {error.get('message')}" if error else "ok"
                lines.append(
                    f"    attempt {attempt.get('attempt')}: {_duration(attempt.get('durationMs'))} {outcome}"
                )
        if node.input not in (None, {}, []):
            lines += ["    input:", _block(node.input)]
        if node.error:
            lines.append(f"    error: {node.error.get('type')}: {node.error.get('message')}")
        elif node.output is not None:
            lines += ["    output:", _block(node.output)]
    if record.status == "succeeded":
        lines += ["", "result:", _block(record.result)]
    return "\n".join(lines)


def _execution_dict(record: ExecutionRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "flow": record.flow,
        "revision": record.revision,
        "status": record.status,
        "trigger": {"kind": record.trigger_kind, **record.trigger},
        "startedAt": _iso(record.started_at),
        "finishedAt": _iso(record.finished_at),
        "durationMs": record.duration_ms,
        "error": record.error,
        "result": record.result,
        "replayOf": record.replay_of,
    }


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else iso_time(epoch)


def executions_json(records: list[ExecutionRecord]) -> str:
    return json.dumps([_execution_dict(r) for r in records], indent=2, default=json_default)


def execution_json(record: ExecutionRecord, nodes: list[NodeRunRecord]) -> str:
    data = _execution_dict(record)
    data["nodes"] = [
        {
            "seq": n.seq,
            "node": n.node,
            "kind": n.kind,
            "status": n.status,
            "startedAt": _iso(n.started_at),
            "durationMs": n.duration_ms,
            "attempts": n.attempts,
            "input": n.input,
            "output": n.output,
            "error": n.error,
        }
        for n in nodes
    ]
    return json.dumps(data, indent=2, default=json_default)
