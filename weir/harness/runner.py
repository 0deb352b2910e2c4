"""Running a test file's cases: each on an engine of its own with no execution store (nothing
is recorded anywhere), its mocks, its secrets, and every HTTP request answered by its mocks.
A case whose flow keeps state keys (state nodes) gets a fresh, empty key store of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from weir.engine.attempts import NodeAttempts
from weir.engine.events import ExecutionResult, TriggerEvent
from weir.engine.execution import Execution
from weir.engine.executor import Engine
from weir.flow.load import CompiledFlow
from weir.harness.expectations import Failure, check
from weir.harness.http_mocks import HttpMocks, MockedResources
from weir.harness.loader import BadTestFile, LoadedTest, find_test_files, load_test_file
from weir.harness.matching import path_text
from weir.harness.mocks import CaseSecrets, MockedAttempts, flow_under_test
from weir.harness.spec import Case, case_mocks, case_secrets
from weir.lang.ids import new_execution_id
from weir.secrets.redact import Redactor
from weir.secrets.resolve import SecretResolver


@dataclass
class CaseResult:
    name: str
    line: int | None
    seconds: float
    failures: list[str] = field(default_factory=list)
    """Each as ``FILE:LINE: expect.PATH: what differed``."""

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass
class FileResult:
    file: str
    name: str
    cases: list[CaseResult] = field(default_factory=list)
    problem: BadTestFile | None = None
    """Set when the file could not be run at all."""


SecretsFallback = Callable[[], SecretResolver]


@dataclass
class Settings:
    fallback: SecretsFallback
    """The resolver of a case that gives no secrets (`weir run`'s local resolver)."""
    redactor: Redactor = field(default_factory=Redactor)
    """Shared with the log handler, so that secrets a flow logs are hidden there too."""
    on_case: Callable[[FileResult, CaseResult], None] | None = None
    """Called as each case finishes (the command's progress lines)."""
    on_bad_file: Callable[[FileResult], None] | None = None
    """Called for a file that cannot be run, in its turn."""


def run_paths(paths: list[str], settings: Settings) -> list[FileResult]:
    """Find the test files under ``paths`` and run each; a file that cannot be read, or a path
    that does not exist, is a FileResult with its problem."""
    try:
        files = find_test_files(paths)
    except BadTestFile as exc:
        return [_bad(FileResult(exc.issues[0].file or "", "", problem=exc), settings)]
    return [run_file(path, settings) for path in files]


def run_file(path: Path, settings: Settings) -> FileResult:
    try:
        loaded = load_test_file(path)
    except BadTestFile as exc:
        return _bad(FileResult(str(path), path.name, problem=exc), settings)
    outcome = FileResult(str(path), loaded.name)
    for index in range(len(loaded.test.spec.cases)):
        case = asyncio.run(run_case(loaded, index, settings))
        outcome.cases.append(case)
        if settings.on_case is not None:
            settings.on_case(outcome, case)
    return outcome


def _bad(file: FileResult, settings: Settings) -> FileResult:
    if settings.on_bad_file is not None:
        settings.on_bad_file(file)
    return file


async def run_case(loaded: LoadedTest, index: int, settings: Settings) -> CaseResult:
    case = loaded.test.spec.cases[index]
    at = ("spec", "cases", index)
    started = time.monotonic()
    outcome = CaseResult(case.name, loaded.line_of(at), 0.0)
    try:
        result, requests = await _execute(loaded, case, settings)
    except TimeoutError:
        failures = [Failure((*at, "timeout"), f"the execution took longer than {case.timeout:g}s")]
    else:
        failures = check(case.expect, result, requests, (*at, "expect"))
    outcome.seconds = time.monotonic() - started
    outcome.failures = [_described(loaded, failure) for failure in failures]
    return outcome


async def _execute(
    loaded: LoadedTest, case: Case, settings: Settings
) -> tuple[ExecutionResult, list[dict[str, Any]]]:
    """The execution's result and the HTTP requests it made."""
    spec = loaded.test.spec
    mocks = case_mocks(spec, case)
    secrets = case_secrets(spec, case)
    engine = Engine(
        secrets=settings.fallback() if secrets is None else CaseSecrets(secrets),
        redactor=settings.redactor,
    )
    http = HttpMocks(mocks.http)
    engine.resources = MockedResources(http.client())
    flow = flow_under_test(loaded.flow, set(mocks.nodes))
    event = TriggerEvent(
        kind=flow.flow.spec.trigger.kind, payload=case.input, meta=dict(case.trigger)
    )
    try:
        async with _state_keys(engine, flow, set(mocks.nodes)):
            execution = Execution(engine, flow, event, new_execution_id(), None)
            # The seam for mocked nodes (weir.harness.mocks): the execution's attempts, wrapped.
            execution.attempts = cast(NodeAttempts, MockedAttempts(execution.attempts, mocks.nodes))
            async with asyncio.timeout(case.timeout):
                return await execution.run(), http.requests
    finally:
        await engine.aclose()


@contextlib.asynccontextmanager
async def _state_keys(engine: Engine, flow: CompiledFlow, mocked: set[str]) -> AsyncIterator[None]:
    """An empty key store for the case's state nodes (none needed when all are mocked), in a
    temporary SQLite file: the same semantics as a runner's, and no key leaks between cases."""
    if not any(n.kind == "state" and n.name not in mocked for n in flow.graph.nodes.values()):
        yield
        return
    from weir.store import open_store

    with tempfile.TemporaryDirectory(prefix="weir-test-state-") as directory:
        store = open_store(f"sqlite:///{directory}/state.db")
        await store.start()
        try:
            engine.state = store.state()
            yield
        finally:
            await store.aclose()


def _described(loaded: LoadedTest, failure: Failure) -> str:
    expect_at = failure.loc[3:]  # below spec.cases.N
    place = path_text(expect_at) if expect_at else "case"
    line = loaded.line_of(failure.loc)
    where = f"{loaded.file}:{line}" if line is not None else str(loaded.file)
    return f"{where}: {place}: {failure.message}"
