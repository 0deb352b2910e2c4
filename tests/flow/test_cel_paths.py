"""CEL expressions bound with only the fields they read answer and fail exactly as when bound
with whole variables."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from weir.lang.expressions import ExpressionError
from weir.lang.expressions.cel_expr import CelExpr
from weir.lang.expressions.cel_paths import field_trees, pruned

SCOPE: dict[str, Any] = {
    "input": {
        "qty": 3,
        "price": 2.5,
        "name": "widget",
        "tags": ["a", "b"],
        "meta": {"x": 1, "y": [1, 2, {"z": True}], "e-mail": "a@b.c"},
        "empty": {},
        "none": None,
        "text": "plain",
    },
    "nodes": {"parse": {"order": {"id": 7, "lines": [{"sku": "x"}]}}, "other": [1, 2]},
    "trigger": {"kind": "webhook", "headers": {"h": "v"}},
    "flow": {"name": "f"},
}

EXPRESSIONS = [
    "double(input.qty) * input.price",
    "input.qty + nodes.parse.order.id",
    "input.meta.x + input.meta.y[0]",
    "input.meta.y[2].z",
    "input.meta['e-mail']",
    'input["meta"]["x"]',
    "input.meta == {'x': 1, 'y': [1, 2, {'z': true}], 'e-mail': 'a@b.c'}",
    "input.meta.x == 1 && size(input.meta) == 3",
    "size(input)",
    "input",
    "'qty' in input",
    "'x' in input.meta",
    "has(input.meta.x) && !has(input.meta.w)",
    "has(input.missing)",
    "input.tags.map(t, t + input.name)",
    "input.tags.exists(t, t == 'b')",
    "input.tags.all(input, input != '')",
    "input.name.startsWith('wid')",
    "input.name + ' input.qty'",
    "input.meta[input.name]",
    "input.empty.x",
    "input.missing",
    "input.meta.missing.deeper",
    "input.none.x",
    "input.text.x",
    "input.qty.x",
    "input.tags[5]",
    "input.tags.x",
    "nodes.other[0] + input.qty",
    "nodes.parse.order.lines[0].sku",
    "input.meta.x.y",
    "input.qty / 0",
    "input . qty  +  input [ 'price' ]",
    "trigger.headers.h + flow.name",
    "optional.of(input.qty).orValue(0)",
    "dyn(input.meta).x",
    "input.meta.y.size()",
    "[input.qty, input.meta].size()",
]


def _whole(source: str) -> CelExpr:
    expr = CelExpr(source)
    expr._fields = {}  # every variable bound whole, as before fields were chosen
    return expr


def _outcome(expr: CelExpr, scope: dict[str, Any]) -> tuple[str, Any]:
    try:
        return ("value", expr.evaluate(scope))
    except ExpressionError as exc:
        return ("error", str(exc))


@pytest.mark.parametrize("source", EXPRESSIONS)
def test_fields_bound_answer_and_fail_as_whole_variables(source: str) -> None:
    scope = copy.deepcopy(SCOPE)
    assert _outcome(CelExpr(source), scope) == _outcome(_whole(source), scope)
    assert scope == SCOPE  # neither binding changes the scope


def test_only_plain_field_paths_choose_fields() -> None:
    def trees(source: str) -> dict[str, Any]:
        return field_trees(source, tuple(CelExpr(source)._program.variables()))

    assert trees("double(input.qty) * input.price") == {"input": {"qty": None, "price": None}}
    assert trees("input.meta.x + input.meta") == {"input": {"meta": None}}
    assert trees("input.meta.y[0] + input.meta.x") == {"input": {"meta": {"y": None, "x": None}}}
    assert trees("size(input) + input.qty") == {}
    assert trees("input[0].x") == {}
    assert trees("input.meta[input.name]") == {"input": {"meta": None, "name": None}}
    assert trees("input.name + 'an input'") == {}  # a mention that is no path


def test_a_pruned_value_keeps_only_the_named_fields_and_leaves_others_alone() -> None:
    value = {"a": {"b": 1, "c": 2}, "d": [1], "e": 3}
    assert pruned(value, {"a": {"b": None}, "d": None, "x": None}) == {"a": {"b": 1}, "d": [1]}
    assert pruned([1, 2], {"a": None}) == [1, 2]
    assert pruned(value, None) is value
