"""The matching rule of flow tests (weir.harness.matching): partial objects, exact lists and
scalars, $any, $regex, $exact, and the problems found in an expectation as written."""

from __future__ import annotations

from typing import Any

import pytest

from weir.harness.matching import match, path_text, problems


def messages(expected: Any, actual: Any) -> list[str]:
    return [f"{path_text(m.loc)}: {m.message}" for m in match(expected, actual)]


def test_an_object_matches_when_its_expected_keys_match() -> None:
    assert messages({"a": 1}, {"a": 1, "b": 2}) == []
    assert messages({"a": {"b": "x"}}, {"a": {"b": "x", "c": [1]}}) == []


def test_a_missing_or_different_key_is_named_by_its_path() -> None:
    assert messages({"a": {"b": 1}}, {"a": {}}) == ["a.b: expected 1, got no such key"]
    assert messages({"lines": [{"total": 19}]}, {"lines": [{"total": 18}]}) == [
        "lines[0].total: expected 19, got 18"
    ]


def test_lists_match_item_by_item_with_the_same_length() -> None:
    assert messages([1, 2], [1, 2]) == []
    assert messages([1, 2], [2, 1]) == ["[0]: expected 1, got 2", "[1]: expected 2, got 1"]
    assert messages([1, 2], [1, 2, 3]) == [": expected 2 items, got 3: [1, 2, 3]"]
    assert messages([1], {"a": 1}) == [': expected a list, got {"a": 1}']


def test_numbers_are_equal_across_int_and_float_but_not_booleans() -> None:
    assert messages(19, 19.0) == []
    assert messages(1, True) == [": expected 1, got true"]
    assert messages(True, 1) == [": expected true, got 1"]
    assert messages(None, 0) == [": expected null, got 0"]


def test_any_matches_every_value_but_the_key_must_be_there() -> None:
    assert messages({"id": "$any"}, {"id": None}) == []
    assert messages({"id": "$any"}, {}) == ['id: expected "$any", got no such key']


def test_regex_searches_a_string() -> None:
    assert messages({"$regex": "^user-[0-9]+$"}, "user-12") == []
    assert messages({"m": {"$regex": "timed out"}}, {"m": "POST x timed out after 2s"}) == []
    assert messages({"$regex": "^a"}, "ba") == [': expected a string matching /^a/, got "ba"']
    assert messages({"$regex": "1"}, 1) == [": expected a string matching /1/, got 1"]


def test_exact_refuses_extra_keys_at_any_depth() -> None:
    assert messages({"$exact": {"a": {"b": 1}}}, {"a": {"b": 1}}) == []
    assert messages({"$exact": {"a": {"b": 1}}}, {"a": {"b": 1, "c": 2}}) == [
        ': expected exactly {"a": {"b": 1}}, got {"a": {"b": 1, "c": 2}}'
    ]
    assert messages({"$exact": [True]}, [1]) == [": expected exactly [true], got [1]"]


def test_long_values_are_cut_in_messages() -> None:
    (message,) = messages("short", "x" * 1000)
    assert len(message) < 260 and message.endswith("…")


@pytest.mark.parametrize(
    ("expected", "problem"),
    [
        ({"$regx": "a"}, "$regx: an operator is a mapping of one key, one of $regex, $exact"),
        ({"$regex": "a", "b": 1}, "$regex: an operator is a mapping of one key"),
        ({"$regex": 1}, "$regex takes a string"),
        ({"$regex": "("}, "$regex '(' is not a valid pattern"),
    ],
)
def test_badly_written_operators_are_problems(expected: Any, problem: str) -> None:
    found = list(problems({"x": [expected]}))
    assert len(found) == 1
    assert found[0][1].startswith(problem)
    assert found[0][0][:2] == ("x", 0)


def test_well_written_expectations_have_no_problems() -> None:
    assert list(problems({"a": ["$any", {"$regex": "^x"}, {"$exact": {"$y": 1}}]})) == []
