"""Per-node progress lines on stderr for `weir run`."""

from __future__ import annotations

from typing import TextIO

from weir.engine.events import ExecutionListener, ExecutionResult
from weir.secrets.redact import Redactor
from weir.store.records import ExecutionRecord, NodeRunRecord, Status


class ProgressPrinter(ExecutionListener):
    def __init__(self, stream: TextIO, redactor: Redactor) -> None:
        self.stream = stream
        self.redactor = redactor

    def execution_started(self, record: ExecutionRecord) -> None:
        print(f"▶ {record.flow} execution {record.id}", file=self.stream)

    def node_finished(self, record: NodeRunRecord) -> None:
        mark = _MARKS.get(record.status, "✗")
        retries = record.retries
        tries = (
            f"  ({retries + 1} attempts)"
            if retries and len(record.attempts) == retries + 1
            else (f"  ({retries} retries)" if retries else "")
        )
        line = f"  {mark} {record.node:<20} {record.kind:<10} {_ms(record.duration_ms)}{tries}"
        if record.error:
            line += f"  {record.error.get('type')}: {self.redactor.text(str(record.error.get('message')))}"
        print(line, file=self.stream)

    def execution_finished(self, result: ExecutionResult) -> None:
        print(f"■ {result.status} in {_ms(result.duration_ms)}", file=self.stream)


_MARKS = {Status.SUCCEEDED: "✓", Status.WAITING: "⏸", Status.CANCELLED: "⊘"}


def _ms(value: float) -> str:
    return f"{value:.1f} ms" if value < 1000 else f"{value / 1000:.2f} s"
