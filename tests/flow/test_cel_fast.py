"""The fast path for simple CEL expressions answers exactly as the CEL library does (value and
type), defers to it wherever it cannot be sure (so the library's errors stay the same), and
leaves sources outside its subset uncompiled."""

from __future__ import annotations

from typing import Any

import pytest

from weir.lang.expressions.cel_expr import CelExpr
from weir.lang.expressions.cel_fast import Unsure, compile_fast

INPUT: dict[str, Any] = {
    "qty": 3,
    "price": 2.5,
    "id": "A-1",
    "name": "héllo",
    "emoji": "😀",
    "flag": True,
    "none": None,
    "tags": ["a", "b"],
    "nums": [1, 2, 3],
    "meta": {"x": 1, "y": [1, 2, {"z": True}], "e-mail": "a@b.c"},
    "big": 2**63 - 1,
    "small": -(2**63),
    "huge": 2**63,
    "nan": float("nan"),
    "zero": 0.0,
    "tuple": (1, 2),
    "odd": {1, 2},
    "broken": "\ud800",
    "rows": [{"id": 1}, {"id": object()}],
}
SCOPE: dict[str, Any] = {"input": INPUT, "a": 7, "b": -2, "s": "x", "t": True, "f": False}

CASES = [
    # literals
    "42",
    "007",
    "1.5",
    "2.0",
    "1e3",
    "1.5e-2",
    "'single'",
    '"double"',
    "'héllo'",
    "true",
    "false",
    "null",
    # variables, selection, indexing
    "a",
    "missing",
    "input.qty",
    "input.meta.x",
    "input.meta['e-mail']",
    'input["qty"]',
    "input.meta.y[2].z",
    "input.nums[0] + input.nums[2]",
    "input.nums[3]",
    "input.nums['0']",
    "input.meta[0]",
    "input.qty.x",
    "input.nope + 1",
    "input.tuple[0] + 1",
    "input.rows[0].id + 1",
    "input.meta",
    "input.nums",
    # arithmetic
    "a + b",
    "a - b",
    "a * b",
    "a / b",
    "-7 / 2",
    "7 / -2",
    "a % b",
    "-7 % 3",
    "7 % -3",
    "a / 0",
    "a % 0",
    "input.price + 1.0",
    "input.price - 0.5",
    "input.price * 2.0",
    "input.price / 2.0",
    "input.price / input.zero",
    "input.price % 2.0",
    "1 + 2.0",
    "input.qty * input.price",
    "double(input.qty) * input.price",
    "s + 'y'",
    "s + 1",
    "input.tags + input.tags",
    "size(input.tags + input.nums)",
    "input.big + 1",
    "input.small - 1",
    "input.big * 2",
    "input.small / -1",
    "input.small % -1",
    "-input.small",
    "-input.big",
    "-input.price",
    "--a",
    "input.huge + 1",
    "input.huge",
    "t + 1",
    "input.flag + 1",
    "3037000500 * 3037000500",
    # precedence and parentheses
    "1 + 2 * 3",
    "(1 + 2) * 3",
    "1 - 2 - 3",
    "12 / 3 / 2",
    "1 + 2 * 3 - 4 / 2 % 3",
    "1 < 2 == true",
    "1 + 2 < 4 && true",
    "true || false && false",
    "(true || false) && false",
    "false ? 1 : true ? 2 : 3",
    "a > 0 ? 'pos' : 'neg'",
    "a > 0 && b > 0 ? 1 : 2",
    # comparisons
    "a < b",
    "a <= 7",
    "a > b",
    "a >= 8",
    "a == 7",
    "a != 7",
    "'a' < 'b'",
    "'a' < 'B'",
    "input.emoji > 'z'",
    "input.price > 2.0",
    "1 == 1.0",
    "1 < 1.0",
    "true == true",
    "true == 1",
    "true < false",
    "null == null",
    "null != null",
    "input.none == null",
    "input.none == 'x'",
    "input.nan == input.nan",
    "input.nan != input.nan",
    "input.nan < 1.0",
    "input.tags == input.tags",
    "input.meta == input.meta",
    # logic
    "!t",
    "!!f",
    "!a",
    "t && f",
    "t || f",
    "f && missing",
    "t || missing",
    "f && input.nope > 1",
    "missing && f",
    "missing || t",
    "t && a",
    "f && a",
    "a && t",
    "1 ? 2 : 3",
    "t ? 1 : 'x'",
    # functions
    "double(a)",
    "double(input.big)",
    "double(input.price)",
    "double('1.5')",
    "double(t)",
    "int(input.price)",
    "int(-2.7)",
    "int(a)",
    "int(1e19)",
    "int(-9223372036854775808.0)",
    "int(input.nan)",
    "int('12')",
    "int(t)",
    "string(a)",
    "string(s)",
    "string(t)",
    "string(1.5)",
    "string(input.none)",
    "size(s)",
    "size(input.name)",
    "size(input.emoji)",
    "size(input.tags)",
    "size(input.meta)",
    "size(a)",
    "size(input.none)",
    "size(input.tuple)",
    # values the library converts or cannot convert
    "input.odd == input.odd",
    "input.broken == 'x'",
    "size(input.rows)",
    "input.qty + 1",
]


def _outcome(source: str, *, fast: bool) -> tuple[str, Any, type]:
    """What evaluating ``source`` on SCOPE gives; without ``fast``, the library's own answer."""
    expression = CelExpr(source)
    if not fast:
        expression._fast = None
    try:
        value = expression.evaluate(SCOPE)
    except Exception as exc:
        return ("error", f"{type(exc).__name__}: {exc}", type(exc))
    return ("value", value, type(value))


def _same(left: tuple[str, Any, type], right: tuple[str, Any, type]) -> bool:
    kind, value, of = left
    if (kind, of) != (right[0], right[2]):
        return False
    if isinstance(value, float) and value != value:
        return right[1] != right[1]
    return bool(value == right[1])


@pytest.mark.parametrize("source", CASES)
def test_the_fast_path_answers_as_the_library_does(source: str) -> None:
    fast, library = _outcome(source, fast=True), _outcome(source, fast=False)
    assert _same(fast, library), (fast, library)


def test_the_table_is_mostly_compiled_and_answered_fast() -> None:
    """The differential table exercises the fast path itself, not only the fallback."""
    compiled = [source for source in CASES if compile_fast(source) is not None]
    answered = []
    for source in compiled:
        run = compile_fast(source)
        assert run is not None
        try:
            run(SCOPE)
        except Unsure:
            continue
        answered.append(source)
    assert len(compiled) == len(CASES)
    assert len(answered) >= 80, len(answered)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("double(input.qty) * input.price", 7.5),
        ("a / b", -3),
        ("-7 % 3", -1),
        ("input.meta.y[2].z && !f", True),
        ("size(input.name)", 6),
        ("string(a) + s", "7x"),
        ("int(-2.7)", -2),
        ("a > 0 ? 'pos' : 'neg'", "pos"),
        ("f && missing", False),
        ("t || missing", True),
        ("input.none == null", True),
        ("1 + 2 * 3 < 8 == true", True),
        ("size(input.tags + input.nums)", 5),
    ],
)
def test_the_fast_path_answers_itself(source: str, expected: Any) -> None:
    run = compile_fast(source)
    assert run is not None
    got = run(SCOPE)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ("1 + 2.0", "int with double"),
        ("input.nope", "a missing field"),
        ("a / 0", "division by zero"),
        ("input.big + 1", "int64 overflow"),
        ("-input.small", "the library wraps -(-2**63) round"),
        ("t + 1", "bool is no int"),
        ("string(t)", "the library has no string(bool)"),
        ("input.nan < 1.0", "the library refuses to order NaN"),
        ("missing && f", "the library absorbs errors on the left"),
        ("input.tags", "the library hands back a copy"),
        ("input.huge == 1", "2**63 becomes a uint"),
        ("input.broken == 'x'", "a lone surrogate cannot be converted"),
        ("input.odd == 1", "a set cannot be converted"),
    ],
)
def test_the_fast_path_defers_where_unsure(source: str, why: str) -> None:
    run = compile_fast(source)
    assert run is not None
    with pytest.raises(Unsure):
        run(SCOPE)
        pytest.fail(f"answered although {why}")


@pytest.mark.parametrize(
    "source",
    [
        "x.size()",
        "has(a.b)",
        "[1,2].map(x, x*2)",
        'b"x"',
        "r'x'",
        "'a\\n'",
        "'''a'''",
        '"""a"""',
        "0x10",
        "1u",
        'timestamp("2024-01-01T00:00:00Z")',
        "a in [1, 2]",
        "{'a': 1}",
        "max(a, b)",
        "size(a, b)",
        "a.b(1)",
        "a[b]",
        "a[-1]",
        "1e400",
        "9223372036854775808",
        ".5",
        "a // comment",
        "a ? b ? 1 : 2 : 3",
        "-!a",
        "",
        "(a",
        "a b",
    ],
)
def test_sources_outside_the_subset_are_not_compiled(source: str) -> None:
    assert compile_fast(source) is None


def test_a_flow_expression_runs_the_fast_path() -> None:
    expression = CelExpr("double(input.qty) * input.price")
    assert expression._fast is not None
    assert expression.evaluate({"input": {"qty": 3, "price": 2.5, "id": "A-1"}}) == 7.5
