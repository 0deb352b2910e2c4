"""Reading flow test files (weir.harness.loader): every reason a file cannot be run is named
with its file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from weir.harness.loader import BadTestFile, find_test_files, load_test_file

HELLO = Path(__file__).parents[2] / "examples" / "hello" / "flow.yaml"
HEAD = f"apiVersion: weir.dev/v1alpha1\nkind: FlowTest\nmetadata: {{name: t}}\nspec:\n  flow: {HELLO}\n"


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "t.test.yaml"
    path.write_text(text)
    with pytest.raises(BadTestFile) as caught:
        load_test_file(path)
    return [str(issue).replace(f"{path}:", "LINE ") for issue in caught.value.issues]


def test_a_good_file_loads_with_its_flow(tmp_path: Path) -> None:
    path = tmp_path / "t.test.yaml"
    path.write_text(HEAD + "  cases:\n    - name: one\n      input: {name: Ada}\n")
    loaded = load_test_file(path)
    assert (loaded.name, loaded.flow.name, loaded.line_of(("spec", "cases", 0, "input"))) == (
        "t",
        "hello",
        8,
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("  cases: [\n", "LINE 7: YAML syntax error"),
        ("  cases: []\n", "LINE 6: field spec.cases: List should have at least 1 item"),
        (
            "  cases:\n    - name: a\n      expct: {}\n",
            "LINE 8: field spec.cases.0.expct: unknown field",
        ),
        (
            "  cases:\n    - name: a\n    - name: a\n",
            "LINE 8: field spec.cases.1.name: another case is named 'a' too",
        ),
        (
            "  cases:\n    - name: a\n      mocks: {nodes: {greet: {output: 1, error: {message: x}}}}\n",
            "LINE 8: field spec.cases.0.mocks.nodes.greet: a node mock takes exactly one of output, error",
        ),
        (
            "  cases:\n    - name: a\n      mocks: {http: [{method: FETCH, url: x}]}\n",
            "LINE 8: field spec.cases.0.mocks.http.0.method: unknown HTTP method 'FETCH'",
        ),
        (
            "  cases:\n    - name: a\n      expect:\n        result:\n          x: {$regex: '('}\n",
            "LINE 10: field spec.cases.0.expect.result.x.$regex: $regex '(' is not a valid pattern",
        ),
        (
            "  cases:\n    - name: a\n      expect:\n        nodes: [greet, answr]\n",
            "LINE 9: field spec.cases.0.expect.nodes.1: the flow has no node 'answr'; did you mean 'answer'?",
        ),
        (
            "  cases:\n    - name: a\n      expect: {outputs: {nope: 1}}\n",
            "LINE 8: field spec.cases.0.expect.outputs.nope: the flow has no node 'nope' (nodes: greet, answer)",
        ),
        (
            "  cases:\n    - name: a\n      expect: {status: done}\n",
            "LINE 8: field spec.cases.0.expect.status: Input should be 'succeeded' or 'failed'",
        ),
    ],
)
def test_problems_are_named_with_their_line(tmp_path: Path, body: str, expected: str) -> None:
    found = problems(tmp_path, HEAD + body)
    assert any(problem.startswith(expected) for problem in found), found


def test_another_kind_is_refused(tmp_path: Path) -> None:
    assert problems(tmp_path, HELLO.read_text())[0].startswith(
        "LINE 4: field kind: expected apiVersion: weir.dev/v1alpha1 and kind: FlowTest, found 'Flow'"
    )


def test_a_flow_that_cannot_be_loaded_is_named_with_its_own_problems(tmp_path: Path) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text("apiVersion: weir.dev/v1alpha1\nkind: Flow\nmetadata: {name: f}\nspec: {}\n")
    found = problems(
        tmp_path,
        "apiVersion: weir.dev/v1alpha1\nkind: FlowTest\nmetadata: {name: t}\n"
        "spec:\n  flow: ./flow.yaml\n  cases: [{name: a}]\n",
    )
    assert found[0] == "LINE 5: the flow ./flow.yaml cannot be loaded:"
    assert found[1].startswith(f"{flow}:4: field spec.trigger: required field is missing")


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.test.yaml"
    path.write_bytes(HEAD.encode() + b"  cases: [{name: \xff}]\n")
    with pytest.raises(BadTestFile) as caught:
        load_test_file(path)
    assert str(caught.value).startswith(f"{path}:6: the file is not UTF-8 text")


def test_directories_are_searched_for_test_files(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / ".hidden").mkdir()
    for name in ("a/flow.test.yaml", ".hidden/x.test.yaml", "a/flow.yaml", "b.test.yaml"):
        (tmp_path / name).write_text("")
    named = tmp_path / "a" / "flow.yaml"
    assert find_test_files([str(tmp_path), str(named)]) == [
        tmp_path / "a" / "flow.test.yaml",
        tmp_path / "b.test.yaml",
        named,
    ]
    (tmp_path / "empty").mkdir()
    with pytest.raises(BadTestFile, match=r"no \*\.test\.yaml file in this directory"):
        find_test_files([str(tmp_path / "empty")])
