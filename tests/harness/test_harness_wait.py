"""`weir test` and the wait node: a case's ``resume`` stands for the person, the payload
becoming the wait's output once the wait's schema accepts it; a payload it refuses, or a
resumed node that is no wait, makes the file one that cannot be run, naming the place."""

from __future__ import annotations

from pathlib import Path

from weir.harness.runner import Settings, run_file
from weir.secrets.resolve import LocalSecretResolver

APPROVAL = Path(__file__).parents[2] / "examples" / "approval"
SETTINGS = Settings(lambda: LocalSecretResolver(environ={}))


def test_the_approval_examples_cases_resume_the_wait_and_pass() -> None:
    result = run_file(APPROVAL / "flow.test.yaml", SETTINGS)
    assert result.problem is None
    assert [(case.name, case.passed, case.failures) for case in result.cases] == [
        ("an approved expense is paid", True, []),
        ("a refused expense is refused", True, []),
    ]


def test_a_resume_payload_is_checked_like_the_real_wait_would(tmp_path: Path) -> None:
    path = tmp_path / "bad.test.yaml"
    path.write_text(
        "apiVersion: weir.dev/v1alpha1\nkind: FlowTest\nmetadata: {name: bad}\nspec:\n"
        f"  flow: {APPROVAL / 'flow.yaml'}\n  cases:\n    - name: x\n      resume:\n"
        "        decide: {approved: 'yes', comment: ok}\n        pay: {}\n        nobody: {}\n"
    )
    result = run_file(path, SETTINGS)
    assert result.problem is not None and result.cases == []
    messages = [str(issue) for issue in result.problem.issues]
    assert any(
        "resume.decide: the wait's schema refuses this payload: payload.approved: 'yes' is not "
        "of type 'boolean'" in m
        for m in messages
    ), messages
    assert any("resume.pay: node 'pay' is a transform node" in m for m in messages), messages
    assert any("the flow has no node 'nobody'" in m for m in messages), messages


def test_a_wrong_expectation_after_a_resume_fails_the_case(tmp_path: Path) -> None:
    path = tmp_path / "wrong.test.yaml"
    path.write_text(
        "apiVersion: weir.dev/v1alpha1\nkind: FlowTest\nmetadata: {name: wrong}\nspec:\n"
        f"  flow: {APPROVAL / 'flow.yaml'}\n  cases:\n    - name: x\n"
        "      input: {employee: Ada, amount: 1, reason: pen}\n      resume:\n"
        "        decide: {approved: false, comment: nope}\n      expect: {nodes: [decide, pay]}\n"
    )
    [case] = run_file(path, SETTINGS).cases
    assert not case.passed and "refuse" in case.failures[0]
