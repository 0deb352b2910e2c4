"""References and expressions: JSONPath (singular and multi-match, indexes, slices, filters),
CEL templates with typed single values, escapes, compile-time errors, and to_text."""

from __future__ import annotations

import pytest

from weir.flow.expressions import (
    CelExpr,
    ExpressionError,
    JsonPath,
    Literal,
    compile_cel,
    compile_value,
    to_text,
)

SCOPE = {
    "input": {"name": "Ada", "tags": ["a", "b", "c"], "n": 2},
    "nodes": {
        "query": {"rows": [{"id": 1, "status": "active"}, {"id": 2, "status": "draft"}]},
        "weird-name": {"x": 1},
    },
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("$.input.name", "Ada"),
        ("$.input.tags[1]", "b"),
        ("$.input.tags[-1]", "c"),
        ("$.nodes.query.rows[0].id", 1),
        ("$.input.tags[0:2]", ["a", "b"]),
        ("$.nodes.query.rows[*].id", [1, 2]),
        ("$.nodes.query.rows[?status == 'active'].id", [1]),
        ("$.nodes['weird-name'].x", 1),
        ("$.input", SCOPE["input"]),
    ],
)
def test_jsonpath_references_read_the_scope(source: str, expected: object) -> None:
    assert compile_value(source).evaluate(SCOPE) == expected


def test_a_singular_path_that_matches_nothing_is_an_error() -> None:
    with pytest.raises(ExpressionError, match=r"reference \$.input.missing matched nothing"):
        compile_value("$.input.missing").evaluate(SCOPE)


def test_a_multi_match_path_that_matches_nothing_is_an_empty_list() -> None:
    assert compile_value("$.input.tags[?@ == 'z']").evaluate(SCOPE) == []


def test_templates_interpolate_cel_and_paths() -> None:
    expr = compile_value(
        "Hello, ${input.name}! You have ${size(input.tags)} tags, first ${$.input.tags[0]}."
    )
    assert expr.evaluate(SCOPE) == "Hello, Ada! You have 3 tags, first a."


def test_a_string_that_is_one_expression_keeps_its_type() -> None:
    assert compile_value("${input.n * 2}").evaluate(SCOPE) == 4
    assert compile_value("${input.tags}").evaluate(SCOPE) == ["a", "b", "c"]


def test_cel_maps_and_strings_with_braces_inside_templates() -> None:
    expr = compile_value('${{"k": "}"}.k} and ${"{" + input.name}')
    assert expr.evaluate(SCOPE) == "} and {Ada"


def test_escapes_write_literal_dollars() -> None:
    assert compile_value("$$.not.a.path").evaluate({}) == "$.not.a.path"
    assert compile_value("cost: $${price}").evaluate({}) == "cost: ${price}"
    assert compile_value("US$5").evaluate({}) == "US$5"


def test_structures_compile_leaves_and_keep_constants_constant() -> None:
    constant = compile_value({"a": [1, "x"], "b": {"c": True}})
    assert isinstance(constant, Literal) and constant.is_constant
    dynamic = compile_value({"who": "$.input.name", "static": [1, 2], "n": "${input.n}"})
    assert dynamic.evaluate(SCOPE) == {"who": "Ada", "static": [1, 2], "n": 2}


def test_node_references_are_known_at_compile_time() -> None:
    expr = compile_value({"a": "$.nodes.query.rows", "b": "${nodes.other.x + 1}"})
    assert sorted(expr.node_refs()) == ["other", "query"]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("$.input[", "invalid JSONPath"),
        ("$.inptu.name", "unknown root 'inptu'"),
        ("${input.name", "unterminated"),
        ("${}", "empty"),
        ("${input.name ==}", "invalid CEL expression"),
    ],
)
def test_mistakes_are_caught_when_compiling(source: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compile_value(source)


def test_conditions_are_bare_cel_and_read_only_what_they_name() -> None:
    condition = compile_cel('item.status == "active" && item.id > 0')
    assert isinstance(condition, CelExpr)
    assert condition.evaluate({"item": {"status": "active", "id": 3}, "nodes": object()}) is True


def test_cel_runtime_errors_name_the_expression() -> None:
    with pytest.raises(ExpressionError, match=r"input\.name \+ 1"):
        compile_cel("input.name + 1").evaluate(SCOPE)


def test_jsonpath_is_a_jsonpath_expression() -> None:
    assert isinstance(compile_value("$.input.name"), JsonPath)


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, ""), (True, "true"), (3, "3"), ({"a": [1]}, '{"a":[1]}'), (b"hi", "hi")],
)
def test_values_become_text_predictably(value: object, text: str) -> None:
    assert to_text(value) == text
