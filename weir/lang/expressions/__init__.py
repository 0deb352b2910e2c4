"""Expressions in flow files, compiled once when a flow is loaded and only evaluated per execution.

Three forms, one rule for every dynamic field:

* ``$.nodes.query.rows[0].id`` — a string that starts with ``$`` is a JSONPath reference into the
  execution scope (``input``, ``trigger``, ``nodes``, ``item``, ``error``, ...). A singular path
  (fields and single indexes only) yields one value; a path with wildcards, slices or filters
  yields the list of matches.
* ``Hello, ${input.name}!`` — ``${...}`` embeds a CEL expression (or a ``$.`` path) in a string.
  A string that is exactly one ``${...}`` keeps the expression's type (number, list, map...).
* ``item.status == "active"`` — fields that are conditions hold a bare CEL expression.

Anything else is a literal; ``$$`` at the start of a string escapes a leading ``$`` and ``$${``
writes a literal ``${``.

The modules: ``expr`` (the compiled-value contract), ``jsonpath`` (references), ``cel_expr``
(CEL programs), ``template`` (``${}`` in text), ``compile`` (a config value to its compiled
form), ``fields`` (the pydantic field types), ``encoding`` (values written as text or JSON) and
``diagnosis`` (what a failed lookup says).
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from weir.lang.expressions.cel_expr import (
        CEL_FUNCTIONS,
        MAX_EXPRESSION_NESTING,
        CelExpr,
    )
    from weir.lang.expressions.compile import (
        Structure,
        TextExpr,
        compile_cel,
        compile_list,
        compile_string,
        compile_text,
        compile_value,
    )
    from weir.lang.expressions.encoding import (
        json_default,
        to_text,
    )
    from weir.lang.expressions.expr import (
        MAX_EXPRESSION_LENGTH,
        ROOT_VARIABLES,
        Expr,
        ExpressionError,
        Literal,
        shown,
    )
    from weir.lang.expressions.fields import (
        Condition,
        Items,
        Text,
        Value,
    )
    from weir.lang.expressions.jsonpath import (
        JsonPath,
    )
    from weir.lang.expressions.template import (
        Template,
    )

_HOMES = {
    "CEL_FUNCTIONS": "cel_expr",
    "MAX_EXPRESSION_NESTING": "cel_expr",
    "CelExpr": "cel_expr",
    "Structure": "compile",
    "TextExpr": "compile",
    "compile_cel": "compile",
    "compile_list": "compile",
    "compile_string": "compile",
    "compile_text": "compile",
    "compile_value": "compile",
    "json_default": "encoding",
    "to_text": "encoding",
    "MAX_EXPRESSION_LENGTH": "expr",
    "ROOT_VARIABLES": "expr",
    "Expr": "expr",
    "ExpressionError": "expr",
    "Literal": "expr",
    "shown": "expr",
    "Condition": "fields",
    "Items": "fields",
    "Text": "fields",
    "Value": "fields",
    "JsonPath": "jsonpath",
    "Template": "template",
}
"""Where each name lives. The modules load on first use: a command that only encodes records
as JSON (``json_default``) should not pay for pydantic and the CEL runtime's wrapper."""


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


__all__ = [
    "CEL_FUNCTIONS",
    "MAX_EXPRESSION_LENGTH",
    "MAX_EXPRESSION_NESTING",
    "ROOT_VARIABLES",
    "CelExpr",
    "Condition",
    "Expr",
    "ExpressionError",
    "Items",
    "JsonPath",
    "Literal",
    "Structure",
    "Template",
    "Text",
    "TextExpr",
    "Value",
    "compile_cel",
    "compile_list",
    "compile_string",
    "compile_text",
    "compile_value",
    "json_default",
    "shown",
    "to_text",
]
