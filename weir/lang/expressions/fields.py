"""The field types node configs and the flow model declare for dynamic values."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator, ValidationInfo, WithJsonSchema

from weir.lang.expressions.cel_expr import CelExpr
from weir.lang.expressions.compile import (
    TextExpr,
    compile_cel,
    compile_list,
    compile_text,
    compile_value,
)
from weir.lang.expressions.expr import Expr


def _source(expr: Expr) -> Any:
    return expr.source


def _labelled(compiler: Any) -> Any:
    def validate(value: Any, info: ValidationInfo) -> Expr:
        expr: Expr = compiler(value)
        if info.field_name:
            expr.label = info.field_name
        return expr

    return validate


Value = Annotated[
    Expr,
    PlainValidator(_labelled(compile_value)),
    PlainSerializer(_source),
    WithJsonSchema({"x-kubernetes-preserve-unknown-fields": True}),
]
"""Any JSON value; its strings may be ``$.`` references or ``${}`` templates."""

Text = Annotated[
    TextExpr,
    PlainValidator(_labelled(compile_text)),
    PlainSerializer(_source),
    WithJsonSchema({"type": "string"}),
]
"""A string that may hold ``$.`` references or ``${}`` templates; always evaluates to text."""

Items = Annotated[
    Expr,
    PlainValidator(_labelled(compile_list)),
    PlainSerializer(_source),
    WithJsonSchema({"x-kubernetes-preserve-unknown-fields": True}),
]
"""A list: written out, or a reference or ``${}`` expression that gives one."""

Condition = Annotated[
    CelExpr,
    PlainValidator(_labelled(compile_cel)),
    PlainSerializer(_source),
    WithJsonSchema({"type": "string"}),
]
"""A bare CEL expression, e.g. ``item.status == "active"``."""
