"""`weir test` on the command line: the examples' test files pass, the deliberately failing
fixture fails, bad test files exit 2, and the JUnit report says the same."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).parents[2]
FAILING = "tests/harness/fixtures/failing.test.yaml"


def weir_test(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "weir.cli", "test", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_the_examples_test_files_pass(tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    done = weir_test("examples/", "--junit", str(report))
    assert done.returncode == 0, done.stdout + done.stderr
    tested = {line.split(":")[0].split()[1] for line in done.stdout.splitlines() if " " in line}
    for example in ("hello", "branching", "console", "users-to-crm"):
        assert f"examples/{example}/flow.test.yaml" in tested
    assert "FAIL" not in done.stdout
    root = ET.parse(report).getroot()
    assert root.get("failures") == "0" and root.get("errors") == "0"
    assert int(root.get("tests", "0")) >= 10


def test_the_failing_fixture_fails_and_says_where(tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    done = weir_test(FAILING, "--junit", str(report))
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert f"PASS {FAILING}: passes" in lines[0]
    assert f"FAIL {FAILING}: wrong total" in lines[1]
    assert lines[2] == f"  {FAILING}:20: expect.outputs.price[0].total: expected 19, got 18.0"
    assert lines[-1].startswith("1 passed, 2 failed (1 test file, ")

    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("name"), suite.get("tests"), suite.get("failures")) == ("failing", "3", "2")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert cases["passes"].find("failure") is None
    failure = cases["wrong total"].find("failure")
    assert failure is not None
    assert (
        failure.get("message")
        == f"{FAILING}:20: expect.outputs.price[0].total: expected 19, got 18.0"
    )
    assert cases["wrong total"].get("line") == "16"


def test_a_bad_test_file_exits_2_with_its_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.test.yaml"
    bad.write_text(
        "apiVersion: weir.dev/v1alpha1\nkind: FlowTest\nmetadata: {name: bad}\nspec:\n"
        f"  flow: {ROOT / 'examples/hello/flow.yaml'}\n  cases:\n    - name: x\n"
        "      mocks: {nodes: {gret: {output: 1}}}\n"
    )
    report = tmp_path / "junit.xml"
    done = weir_test(str(bad), FAILING, "--junit", str(report))
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"ERROR {bad}: the test file cannot be run" in done.stdout
    assert (
        f"{bad}:8: field spec.cases.0.mocks.nodes.gret: the flow has no node 'gret'; did you mean 'greet'?"
        in done.stdout
    )
    assert "1 passed, 2 failed, 1 test files cannot be run" in done.stdout  # the others still ran
    suites = ET.parse(report).getroot().findall("testsuite")
    error = suites[0].find("testcase/error")
    assert error is not None and "did you mean 'greet'" in (error.text or "")


def test_a_path_that_does_not_exist_exits_2() -> None:
    done = weir_test("no/such/dir")
    assert done.returncode == 2
    assert "no/such/dir: no such file or directory" in done.stdout
