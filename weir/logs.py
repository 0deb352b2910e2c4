"""Logging: one JSON object per line in serve mode, readable lines on a terminal; secrets are
scrubbed from every record before it is written."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from weir.secrets.redact import Redactor

_CONTEXT_FIELDS = ("flow", "execution", "node")


class RedactingFilter(logging.Filter):
    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        if self.redactor.active:
            record.msg = self.redactor.text(record.getMessage())
            record.args = None
            fields = getattr(record, "fields", None)
            if fields:
                record.fields = self.redactor(fields)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        fields = getattr(record, "fields", None)
        if fields:
            entry["fields"] = fields
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        context = " ".join(
            f"{name}={getattr(record, name)}"
            for name in _CONTEXT_FIELDS
            if getattr(record, name, None) is not None
        )
        fields = getattr(record, "fields", None)
        extra = " " + json.dumps(fields, default=str) if fields else ""
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        line = f"{stamp} {record.levelname.lower():7} {record.getMessage()}{extra}"
        return f"{line}  [{context}]" if context else line


def configure_logging(
    redactor: Redactor, *, json_lines: bool | None = None, level: str = "info"
) -> None:
    """JSON lines when asked or when stderr is not a terminal and ``json_lines`` is None."""
    if json_lines is None:
        json_lines = not sys.stderr.isatty()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    handler.addFilter(RedactingFilter(redactor))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Client libraries log every request at info, Alembic each step of an upgrade; Weir's own
    # records and the store's upgrade line already say what happened.
    for noisy in ("httpx", "httpcore", "aiormq", "aio_pika", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
