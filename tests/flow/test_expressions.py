"""References and expressions: JSONPath (singular and multi-match, indexes, slices, filters),
CEL templates with typed single values, escapes, compile-time errors (syntax errors with the
parser's reason, unknown functions, hostile sizes), run-time errors that name the missing path,
list fields that refuse a reference written without `$.`, and to_text."""

from __future__ import annotations

import re

import cel
import pytest

from weir.lang.expressions import (
    CEL_FUNCTIONS,
    CelExpr,
    ExpressionError,
    JsonPath,
    Literal,
    compile_cel,
    compile_list,
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


def test_a_cel_syntax_error_keeps_the_parsers_reason() -> None:
    with pytest.raises(ValueError) as caught:
        compile_cel("a > 1 &&")
    assert str(caught.value).startswith(
        "invalid CEL expression 'a > 1 &&': column 9: Syntax error: mismatched input '<EOF>'"
    )


def test_an_unknown_cel_function_is_caught_when_compiling() -> None:
    with pytest.raises(ValueError, match=r"unknown CEL function 'max' in 'max\(input.n, 3\)'"):
        compile_value("${max(input.n, 3)}")
    with pytest.raises(ValueError, match=r"'lowerAscii'"):
        compile_cel("input.name.lowerAscii() == 'ada'")


# One call per function the runtime is said to provide; a name missing from the runtime fails
# here, so the list cannot drift from the `cel` package.
CEL_CALLS = {
    "size": "size([1])",
    "contains": "'abc'.contains('b')",
    "startsWith": "'abc'.startsWith('a')",
    "endsWith": "'abc'.endsWith('c')",
    "matches": "'abc'.matches('^a')",
    "int": "int('1')",
    "uint": "uint(1)",
    "double": "double(1)",
    "string": "string(1)",
    "bytes": "bytes('a')",
    "type": "type(1) == int",
    "dyn": "dyn(1)",
    "duration": "duration('1s')",
    "timestamp": "timestamp('2024-01-01T00:00:00Z')",
    "getFullYear": "timestamp('2024-01-01T00:00:00Z').getFullYear()",
    "getMonth": "timestamp('2024-01-01T00:00:00Z').getMonth()",
    "getDate": "timestamp('2024-01-01T00:00:00Z').getDate()",
    "getDayOfMonth": "timestamp('2024-01-01T00:00:00Z').getDayOfMonth()",
    "getDayOfYear": "timestamp('2024-01-01T00:00:00Z').getDayOfYear()",
    "getDayOfWeek": "timestamp('2024-01-01T00:00:00Z').getDayOfWeek()",
    "getHours": "duration('2h').getHours()",
    "getMinutes": "duration('2m').getMinutes()",
    "getSeconds": "duration('2s').getSeconds()",
    "getMilliseconds": "duration('2ms').getMilliseconds()",
    "of": "optional.of(1)",
    "ofNonZeroValue": "optional.ofNonZeroValue(1)",
    "none": "optional.none()",
    "hasValue": "optional.of(1).hasValue()",
    "value": "optional.of(1).value()",
    "or": "optional.none().or(optional.of(1))",
    "orValue": "optional.none().orValue(1)",
}


def test_the_cel_function_list_matches_the_runtime() -> None:
    assert set(CEL_CALLS) == CEL_FUNCTIONS
    for source in CEL_CALLS.values():
        compile_cel(source).evaluate({})
    raw = cel.compile("max(1, 2)")  # what the list leaves out really is missing
    with pytest.raises(RuntimeError, match="Undefined variable or function: 'max'"):
        raw.execute({})


FETCHED = {"nodes": {"fetch": {"customer": {"id": 7, "name": "Ada"}, "rows": [1]}}, "input": {}}


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        (
            "nodes.fetch.customer.email",
            "nodes.fetch.customer has no field 'email' (it has: id, name)",
        ),
        (
            "size(nodes.fetch.customer['e-mail']) > 0",
            "nodes.fetch.customer has no field 'e-mail' (it has: id, name)",
        ),
        ("nodes.fetch.rows[3] == 1", "nodes.fetch.rows has 1 item, no index 3"),
        ("nodes.fetch.customer.id.x", "nodes.fetch.customer.id is an int, it has no field 'x'"),
        ("nodes.other.x", "node 'other' has no output here (outputs so far: fetch)"),
        ("input.email", "input has no field 'email' (it is empty)"),
    ],
)
def test_a_missing_field_at_run_time_names_the_path_and_what_was_there(
    source: str, reason: str
) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_cel(source).evaluate(FETCHED)
    assert str(caught.value) == f"expression {source!r} failed: {reason}"


def test_a_reference_that_matches_nothing_names_the_missing_step() -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_value("$.nodes.fetch.customer.email").evaluate(FETCHED)
    assert str(caught.value) == (
        "reference $.nodes.fetch.customer.email matched nothing: "
        "nodes.fetch.customer has no field 'email' (it has: id, name)"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("input.rows", "'input.rows' is plain text, and this field takes a list; "),
        ("$input.rows", "to read the list it names write $.input.rows"),
        ("nodes.query.rows", "to read the list it names write $.nodes.query.rows"),
        ("rows", "expected a list or a reference to one (e.g. $.nodes.query.rows), got a string"),
        ({"a": 1}, "expected a list or a reference to one (e.g. $.nodes.query.rows), got a map"),
    ],
)
def test_a_list_field_refuses_text_that_looks_like_a_reference(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        compile_list(value)


def test_a_list_field_takes_lists_references_and_expressions() -> None:
    assert compile_list([1, 2]).evaluate({}) == [1, 2]
    assert compile_list("$.input.tags").evaluate(SCOPE) == ["a", "b", "c"]
    assert compile_list("${input.tags}").evaluate(SCOPE) == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        pytest.param(
            "'${" + "(" * 100_000 + "1" + ")" * 100_000 + "}'",
            "characters long; the limit is 10,000",
            id="huge CEL nesting (the parser panics)",
        ),
        pytest.param(
            "'${" + "(" * 60 + "1" + ")" * 60 + "}'",
            "nests brackets 60 deep; the limit is 50",
            id="deep CEL nesting",
        ),
        pytest.param(
            "'$.input" + ".a" * 20_000 + "'",
            "is 40,007 characters long; the limit is 10,000",
            id="very long JSONPath",
        ),
    ],
)
def test_hostile_expressions_are_short_messages(message: str, expected: str) -> None:
    with pytest.raises(ValueError) as caught:
        compile_value(message.strip("'"))
    assert expected in str(caught.value)
    assert len(str(caught.value)) < 300


SELECTED_VALUES = [
    "text",
    b"bytes",
    0,
    -(2**63),
    2**63 - 1,
    2**63,  # CEL turns it into a float
    1.5,
    True,
    None,
    (1, 2),  # CEL turns tuples into lists
    {"nested": (1,)},
    [1, [2]],
]


@pytest.mark.parametrize("value", SELECTED_VALUES, ids=repr)
@pytest.mark.parametrize(
    "source", ["x.v", "x['v']", "x.l[0]", "x.l[1]", "x.l[-1]", "x.missing", "x.v.deeper"]
)
def test_an_expression_that_only_selects_answers_as_the_cel_program_does(
    source: str, value: object
) -> None:
    # Selections skip the CEL program where its answer is known; the answers must not differ.
    scope = {"x": {"v": value, "l": [value]}}
    try:
        expected: object = ("value", cel.compile(source).execute(scope))
    except Exception:
        expected = ("error",)
    try:
        got: object = ("value", CelExpr(source).evaluate(scope))
    except ExpressionError:
        got = ("error",)
    assert got == expected
    if got[0] == "value":
        assert type(got[1]) is type(expected[1])  # type: ignore[index]


def test_cel_is_loaded_without_its_command_line_and_import_cel_still_works() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from weir.lang.expressions import CelExpr\n"
        "assert CelExpr('1 + x').evaluate({'x': 1}) == 2\n"
        "assert 'cel.cli' not in sys.modules and 'prompt_toolkit' not in sys.modules\n"
        "import cel\n"  # the extension is initialised once per process: reused, not reloaded
        "assert cel.compile('2 * 3').execute({}) == 6\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_an_expression_names_the_roots_it_may_read() -> None:
    from weir.lang.expressions import ROOT_VARIABLES, compile_value

    assert compile_value("$.error.message").roots() == {"error"}
    assert compile_value("${error.node} at ${nodes.a.x + 1}").roots() == {"error", "nodes"}
    assert compile_value({"a": "${input.n}", "b": ["$.trigger.meta"]}).roots() == {
        "input",
        "trigger",
    }
    assert compile_value("$").roots() == set(ROOT_VARIABLES)  # the whole scope
    assert compile_value("plain text").roots() == set()
