"""Running flow test cases (weir.harness.runner): mocked nodes and their errors, mocked HTTP
answers and the requests made, secrets, timeouts, and what a failure says."""

from __future__ import annotations

import textwrap
from pathlib import Path

from weir.harness.runner import CaseResult, Settings, run_file
from weir.secrets.resolve import LocalSecretResolver

EXAMPLES = Path(__file__).parents[2] / "examples"


def run(
    tmp_path: Path, flow: str, cases: str, environ: dict[str, str] | None = None
) -> list[CaseResult]:
    """The results of the cases (YAML under ``spec:``) run against an example flow."""
    text = textwrap.dedent(
        f"""\
        apiVersion: weir.dev/v1alpha1
        kind: FlowTest
        metadata: {{name: t}}
        spec:
          flow: {EXAMPLES / flow / "flow.yaml"}
        """
    ) + textwrap.indent(textwrap.dedent(cases), "  ")
    path = tmp_path / "t.test.yaml"
    path.write_text(text)
    settings = Settings(lambda: LocalSecretResolver(environ=environ or {}))
    result = run_file(path, settings)
    assert result.problem is None, str(result.problem)
    return result.cases


def test_a_mocked_node_does_not_run_and_its_output_is_the_mock(tmp_path: Path) -> None:
    (case,) = run(
        tmp_path,
        "console",
        """
        cases:
          - name: mocked
            input: {customer: Ada, lines: [{sku: A1}]}
            mocks: {nodes: {price: {output: [{sku: A1, total: 3}]}}}
            expect:
              outputs: {price: [{sku: A1, total: 3}]}
              result: {lines: [{total: 3}]}
        """,
    )
    assert case.passed, case.failures


def test_a_mocked_error_takes_the_nodes_error_transition(tmp_path: Path) -> None:
    (case,) = run(
        tmp_path,
        "branching",
        """
        cases:
          - name: publish fails
            input: {crmUrl: https://crm.example, records: [{id: 1, status: active}]}
            mocks: {nodes: {publish: {error: {type: http, message: CRM is down}}}}
            expect:
              result: {published: false, parked: true}
              attempts: {publish: 1}
              outputs: {park: {message: "CRM unavailable (CRM is down); 1 records parked"}}
        """,
    )
    assert case.passed, case.failures


def test_a_mocked_error_without_on_error_fails_the_execution(tmp_path: Path) -> None:
    (case,) = run(
        tmp_path,
        "console",
        """
        cases:
          - name: price fails
            input: {customer: Ada, lines: []}
            mocks: {nodes: {price: {error: {type: config, message: no prices today}}}}
            expect:
              error: {node: price, kind: transform, type: config, message: no prices today}
              nodes: [received, price]
        """,
    )
    assert case.passed, case.failures


def test_a_mocked_for_each_node_gives_its_whole_output(tmp_path: Path) -> None:
    (case,) = run(
        tmp_path,
        "users-to-crm",
        """
        cases:
          - name: push mocked
            input: {crmUrl: https://crm.example}
            secrets: {crm: {token: t}}
            mocks:
              nodes:
                users: {output: {rows: [{id: 1, first_name: A, last_name: B, email: e, status: active}]}}
                push: {output: [{status: 201}, {status: 202}]}
            expect:
              result: {synced: 2, contacts: [user-1]}
              requests: []
        """,
    )
    assert case.passed, case.failures


def test_http_mocks_answer_in_order_with_times_globs_and_text_bodies(tmp_path: Path) -> None:
    (case,) = run(
        tmp_path,
        "branching",
        """
        cases:
          - name: busy twice then up
            input: {crmUrl: https://crm.example, records: [{id: 1, status: active}]}
            mocks:
              http:
                - {method: GET, url: "https://crm.example/*", status: 500}
                - {url: "https://crm.example/*", status: 429, body: slow down, times: 2}
                - {method: post, url: https://crm.example/contacts, status: 200, body: fine,
                   headers: {X-Answer: "42"}}
            expect:
              attempts: {publish: 3}
              outputs: {publish: {status: 200, body: fine, headers: {x-answer: "42"}}}
              requests:
                - {method: POST, json: [{id: 1, status: active}]}
                - $any
                - {url: https://crm.example/contacts, headers: {content-type: application/json}}
        """,
    )
    assert case.passed, case.failures


def test_an_unmocked_request_fails_its_node_at_once_with_the_request(tmp_path: Path) -> None:
    (case,) = run(
        tmp_path,
        "branching",
        """
        cases:
          - name: nothing mocked
            input: {crmUrl: http://127.0.0.1:9, records: [{id: 1, status: active}]}
            expect:
              attempts: {publish: 1}
              outputs:
                park:
                  message: "CRM unavailable (unmocked request POST http://127.0.0.1:9/contacts); 1 records parked"
        """,
    )
    assert case.passed, case.failures


def test_the_cases_secrets_are_the_only_ones(tmp_path: Path) -> None:
    cases = run(
        tmp_path,
        "users-to-crm",
        """
        mocks:
          nodes: {users: {output: {rows: [{id: 1, first_name: A, last_name: B, email: e, status: active}]}}}
          http: [{url: "*", status: 201}]
        cases:
          - name: given
            input: {crmUrl: https://crm.example}
            secrets: {crm: {token: given-token}}
            expect:
              requests: [{headers: {authorization: Bearer given-token}}]
          - name: not given
            input: {crmUrl: https://crm.example}
            secrets: {crm: {other: x}}
            expect:
              error: {node: push, type: config, message: {$regex: "secret crm/token is not given by the test \\\\(secrets: crm/other\\\\)"}}
          - name: from the machine
            input: {crmUrl: https://crm.example}
            expect:
              requests: [{headers: {authorization: Bearer env-token}}]
        """,
        environ={"WEIR_SECRET_CRM_TOKEN": "env-token"},
    )
    assert [case.failures for case in cases] == [[], [], []]


def test_a_case_that_takes_too_long_fails(tmp_path: Path) -> None:
    (case,) = run(
        tmp_path,
        "branching",
        """
        cases:
          - name: slow
            timeout: 200ms
            input: {crmUrl: https://crm.example, records: [{id: 1, status: active}]}
            mocks: {http: [{url: "*", status: 201, delay: 10s}]}
        """,
    )
    assert case.seconds < 5
    assert len(case.failures) == 1
    assert case.failures[0].endswith(": timeout: the execution took longer than 0.2s")
    assert ":9: " in case.failures[0]  # the line of the case's timeout


def test_failures_name_the_file_the_line_and_the_path(tmp_path: Path) -> None:
    passed, failed = run(
        tmp_path,
        "hello",
        """
        cases:
          - name: right
            input: {name: Ada}
            expect: {result: {greeting: "Hello, Ada!"}}
          - name: wrong
            input: {name: Ada}
            expect:
              status: succeeded
              nodes: [answer, greet]
              outputs:
                greet:
                  message: hello Ada
              result: {greeting: "Hello, Bob!"}
        """,
    )
    assert passed.passed and not failed.passed
    file = tmp_path / "t.test.yaml"
    assert failed.failures == [
        f'{file}:19: expect.result.greeting: expected "Hello, Bob!", got "Hello, Ada!"',
        f'{file}:15: expect.nodes: expected the nodes ["answer", "greet"] in this order; ran ["greet", "answer"]',
        f'{file}:18: expect.outputs.greet.message: expected "hello Ada", got "greeting Ada"',
    ]
    assert failed.line == 11


def test_an_expected_failure_that_succeeds_fails_the_case(tmp_path: Path) -> None:
    (case,) = run(
        tmp_path,
        "hello",
        """
        cases:
          - name: expects an error
            input: {name: Ada}
            expect: {error: {node: greet}}
        """,
    )
    file = tmp_path / "t.test.yaml"
    assert case.failures == [
        f"{file}:10: expect.status: expected the execution to have failed, it succeeded",
        f"{file}:10: expect.error: expected an object, got null",
    ]
