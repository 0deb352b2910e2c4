"""`log`: write a templated message with structured fields to the flow's log."""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import Field

from weir.lang.expressions import Text, Value
from weir.lang.types import Strict
from weir.nodes.context import NodeContext
from weir.nodes.kind import NodeKind

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


class LogConfig(Strict):
    message: Text = Field(description='Template, e.g. "synced ${size(nodes.push)} contacts".')
    level: Literal["debug", "info", "warning", "error"] = "info"
    fields: Value | None = Field(None, description="Structured fields added to the log line.")


async def run(config: LogConfig, ctx: NodeContext) -> dict[str, Any]:
    message = ctx.text(config.message)
    fields = ctx.eval(config.fields) or {}
    if not isinstance(fields, dict):
        fields = {"fields": fields}
    ctx.log.log(_LEVELS[config.level], message, extra={"fields": fields})
    return {"message": message, "level": config.level, "fields": fields}


KIND = NodeKind(
    "log", LogConfig, run, "Write a templated message with structured fields to the log."
)
