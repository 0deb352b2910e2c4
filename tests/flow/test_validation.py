"""`weir validate` and the shared loader: each broken case names the node, the field and the
line, exits 1, and never shows a traceback."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from weir.flow.issues import FlowInvalid
from weir.flow.load import load_flows_text

HEADER = """\
apiVersion: weir.dev/v1alpha1
kind: Flow
metadata: {name: broken}
spec:
  trigger: {manual: {}}
  nodes:
"""


def flow_with(nodes: str) -> str:
    return HEADER + textwrap.indent(textwrap.dedent(nodes), "    ")


def issues_of(text: str) -> list[str]:
    with pytest.raises(FlowInvalid) as caught:
        load_flows_text(text, "flow.yaml")
    return [str(issue) for issue in caught.value.issues]


CASES = {
    "unknown transition target": (
        """\
        - name: a
          log: {message: hi}
          next: bb
        - name: b
          log: {message: hi}
        """,
        ["flow.yaml:9: node 'a', field next: unknown target node 'bb' (did you mean 'b'?)"],
    ),
    "duplicate names": (
        """\
        - name: a
          log: {message: hi}
          next: a2
        - name: a2
          log: {message: hi}
        - name: a2
          log: {message: again}
        """,
        ["flow.yaml:12: node 'a2', field name: duplicate node name 'a2' (also node #2)"],
    ),
    "unreachable node": (
        """\
        - name: a
          log: {message: hi}
        - name: lost
          log: {message: hi}
        """,
        [
            "flow.yaml:9: node 'lost': node 'lost' is unreachable: no transition leads to it from 'a'"
        ],
    ),
    "cycle": (
        """\
        - name: a
          log: {message: hi}
          next: b
        - name: b
          log: {message: hi}
          next: a
        """,
        ["flow.yaml:7: node 'a': transitions form a cycle: a -> b -> a"],
    ),
    "cycle shown along the transitions from the node declared first in it": (
        """\
        - name: begin
          log: {message: hi}
          next: c
        - name: a
          log: {message: hi}
          next: c
        - name: b
          log: {message: hi}
          next: a
        - name: c
          log: {message: hi}
          next: b
        """,
        ["flow.yaml:10: node 'a': transitions form a cycle: a -> c -> b -> a"],
    ),
    "invalid JSONPath": (
        """\
        - name: a
          log:
            message: hi
            fields: {x: "$.input[["}
        """,
        ["flow.yaml:10: node 'a', field log.fields: invalid JSONPath '$.input[['"],
    ),
    "JSONPath with an unknown root": (
        """\
        - name: a
          log: {message: $.inptu.name}
        """,
        [
            "flow.yaml:8: node 'a', field log.message: invalid reference '$.inptu.name': unknown root 'inptu'"
        ],
    ),
    "reference to an unknown node": (
        """\
        - name: a
          log: {message: "${nodes.nope.x}"}
        """,
        ["flow.yaml:8: node 'a', field log.message: reference to unknown node 'nope'"],
    ),
    "invalid CEL": (
        """\
        - name: a
          log: {message: hi}
          when:
            - condition: "input.x =="
              next: b
        - name: b
          log: {message: hi}
        """,
        ["flow.yaml:10: node 'a', field when.0.condition: invalid CEL expression 'input.x =='"],
    ),
    "CEL syntax error with its reason": (
        """\
        - name: a
          log: {message: hi}
          when:
            - condition: "input.x > 1 &&"
              next: b
        - name: b
          log: {message: hi}
        """,
        [
            "flow.yaml:10: node 'a', field when.0.condition: invalid CEL expression "
            "'input.x > 1 &&': column 15: Syntax error: mismatched input '<EOF>' expecting"
        ],
    ),
    "unknown CEL function": (
        """\
        - name: a
          log: {message: "${max(input.a, 2)}"}
        """,
        [
            "flow.yaml:8: node 'a', field log.message: unknown CEL function 'max' in "
            "'max(input.a, 2)'; CEL here offers size, contains"
        ],
    ),
    "misspelt CEL method": (
        """\
        - name: a
          log: {message: "${input.name.startswith('A')}"}
        """,
        ["unknown CEL function 'startswith' (did you mean 'startsWith'?)"],
    ),
    "forEach items without $.": (
        """\
        - name: a
          log: {message: hi}
          forEach: {items: input.rows}
        """,
        [
            "flow.yaml:9: node 'a', field forEach.items: 'input.rows' is plain text, and this "
            "field takes a list; to read the list it names write $.input.rows"
        ],
    ),
    "forEach items that are not a list": (
        """\
        - name: a
          log: {message: hi}
          forEach: {items: 3}
        """,
        [
            "flow.yaml:9: node 'a', field forEach.items: expected a list or a reference to one "
            "(e.g. $.nodes.query.rows), got an int"
        ],
    ),
    "a node without a kind": (
        """\
        - name: a
          next: b
        """,
        ["flow.yaml:7: node 'a': a node needs exactly one kind key (", "found none"],
    ),
    "a node with a misspelt kind": (
        """\
        - name: a
          lgo: {message: hi}
        """,
        ["flow.yaml:7: node 'a': a node needs exactly one kind key", "unknown key 'lgo'"],
    ),
    "a node with two kinds": (
        """\
        - name: a
          log: {message: hi}
          transform: {set: 1}
        """,
        ["flow.yaml:7: node 'a': a node takes exactly one kind key, found 2: log, transform"],
    ),
    "an unknown field": (
        """\
        - name: a
          log: {message: hi, colour: red}
        """,
        ["flow.yaml:8: node 'a', field log.colour: unknown field"],
    ),
    "a bad duration": (
        """\
        - name: a
          log: {message: hi}
          timeout: soon
        """,
        ["flow.yaml:9: node 'a', field timeout: invalid duration 'soon'"],
    ),
    "an undeclared secret": (
        """\
        - name: a
          http: {url: "http://x", auth: {bearer: {secret: crm, key: token}}}
        """,
        ["node 'a', field http.auth.bearer: secret 'crm' is not declared in spec.secrets"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_broken_case_names_the_node_field_and_line(case: str) -> None:
    nodes, expected = CASES[case]
    if "http:" in nodes:
        pytest.importorskip("weir.nodes.http")
    found = "\n".join(issues_of(flow_with(nodes)))
    for fragment in expected:
        assert fragment in found


def test_a_yaml_syntax_error_names_the_line() -> None:
    text = HEADER + "    - name: a\n      log: {message: hi\n"
    (issue,) = issues_of(text)
    assert issue.startswith("flow.yaml:") and "YAML syntax error" in issue


def test_a_duplicate_yaml_key_is_an_error() -> None:
    text = HEADER + "    - name: a\n      name: b\n      log: {message: hi}\n"
    (issue,) = issues_of(text)
    assert "duplicate key 'name'" in issue and issue.startswith("flow.yaml:8:")


def test_a_cron_trigger_with_a_bad_schedule_is_reported() -> None:
    text = (
        HEADER.replace("{manual: {}}", '{cron: {schedule: "61 * * * *"}}')
        + "    - name: a\n      log: {message: hi}\n"
    )
    (issue,) = issues_of(text)
    assert "field spec.trigger.cron.schedule: invalid cron schedule" in issue


def test_a_cron_with_seconds_is_refused_as_a_cronjob_would_refuse_it() -> None:
    text = (
        HEADER.replace("{manual: {}}", '{cron: {schedule: "*/5 * * * * *"}}')
        + "    - name: a\n      log: {message: hi}\n"
    )
    (issue,) = issues_of(text)
    assert "spec.trigger.cron.schedule" in issue and "has 6 fields" in issue
    assert "seconds are not supported" in issue


def test_two_trigger_kinds_are_an_error() -> None:
    text = (
        HEADER.replace("{manual: {}}", '{manual: {}, cron: {schedule: "* * * * *"}}')
        + "    - name: a\n      log: {message: hi}\n"
    )
    (issue,) = issues_of(text)
    assert "a trigger takes exactly one of" in issue and "found cron, manual" in issue


def test_all_issues_are_reported_at_once() -> None:
    text = flow_with(
        """\
        - name: a
          log: {message: $.inptu}
          next: zz
        - name: b
          lgo: {}
        """
    )
    assert len(issues_of(text)) >= 2


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "weir.cli", *args], capture_output=True, text=True, timeout=60
    )


def test_weir_validate_exits_1_without_a_traceback(tmp_path: Path) -> None:
    broken = tmp_path / "flow.yaml"
    broken.write_text(flow_with(CASES["cycle"][0]))
    syntax = tmp_path / "syntax.yaml"
    syntax.write_text("spec: [unclosed\n")
    done = run_cli("validate", str(broken), str(syntax))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert f"{broken}:7: node 'a': transitions form a cycle" in done.stderr
    assert f"{syntax}:2: YAML syntax error" in done.stderr


def test_weir_validate_accepts_every_example(tmp_path: Path) -> None:
    examples = sorted(Path(__file__).parents[2].glob("examples/*/flow.yaml"))
    assert examples
    done = run_cli("validate", *map(str, examples))
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("is valid") == len(examples)


def test_weir_validate_reports_a_missing_file() -> None:
    done = run_cli("validate", "/nonexistent/flow.yaml")
    assert done.returncode == 1
    assert "cannot read file" in done.stderr and "Traceback" not in done.stderr


def test_weir_validate_names_the_line_of_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(
        b"apiVersion: weir.dev/v1alpha1\nkind: Flow\nmetadata: {name: x}\nspec:\n"
        b"  trigger: {manual: {}}\n  nodes:\n    - {name: a, log: {message: caf\xe9}}\n"
    )
    done = run_cli("validate", str(path))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"{path}:7: the file is not UTF-8 text" in done.stderr
