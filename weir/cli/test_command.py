"""`weir test`: run flow test files (``*.test.yaml``, docs/testing-flows.md), one line per case
and a summary; ``--junit FILE`` writes the JUnit XML report too.

Exit codes: 0 every case passed, 1 a case failed, 2 a test file (or a path) cannot be run.
The harness is imported inside the command, so that `weir --help` stays light.
"""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING, Any

from weir.cli.common import UsageError, secrets_option

if TYPE_CHECKING:
    from weir.harness.runner import CaseResult, FileResult

BAD_TEST_FILE = 2


def add_test(commands: Any) -> None:
    test = commands.add_parser(
        "test", help="run flow tests: mocked nodes and HTTP, expectations on the result"
    )
    test.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="test files, or directories searched for *.test.yaml",
    )
    test.add_argument("--junit", metavar="FILE", help="write a JUnit XML report to FILE")
    secrets_option(test)
    test.set_defaults(handler=cmd_test)


def cmd_test(args: argparse.Namespace) -> int:
    from weir.harness.junit import write_junit
    from weir.harness.runner import Settings, run_paths
    from weir.logs import configure_logging
    from weir.secrets.redact import Redactor
    from weir.secrets.store import local_resolver

    # The flows' own log lines would drown the report: warnings and errors only.
    redactor = Redactor()
    configure_logging(redactor, json_lines=False, level="warning")
    started = time.monotonic()
    settings = Settings(
        lambda: local_resolver(args.secrets_dir), redactor, _print_case, _print_bad_file
    )
    files = run_paths(args.paths, settings)
    if args.junit:
        try:
            write_junit(files, args.junit)
        except OSError as exc:
            raise UsageError(
                f"cannot write the JUnit report {args.junit}: {exc.strerror}"
            ) from None
    print(_summary(files, time.monotonic() - started))
    if any(file.problem is not None for file in files):
        return BAD_TEST_FILE
    return 1 if any(not case.passed for file in files for case in file.cases) else 0


def _print_case(file: FileResult, case: CaseResult) -> None:
    verdict = "PASS" if case.passed else "FAIL"
    print(f"{verdict} {file.file}: {case.name} ({case.seconds * 1000:.0f} ms)", flush=True)
    for failure in case.failures:
        print(f"  {failure}")


def _print_bad_file(file: FileResult) -> None:
    print(f"ERROR {file.file}: the test file cannot be run", flush=True)
    for issue in file.problem.issues if file.problem else []:
        print(f"  {issue}")


def _summary(files: list[FileResult], seconds: float) -> str:
    cases = [case for file in files for case in file.cases]
    failed = sum(1 for case in cases if not case.passed)
    parts = [f"{len(cases) - failed} passed", f"{failed} failed"]
    bad = sum(1 for file in files if file.problem is not None)
    if bad:
        parts.append(f"{bad} test files cannot be run")
    count = len(files)
    return f"{', '.join(parts)} ({count} test file{'s' if count != 1 else ''}, {seconds:.1f}s)"
