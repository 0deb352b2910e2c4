"""Finding test files and reading them: the FlowTest model checked with the line of every
problem, the flow it names loaded, and every node it names looked up in that flow."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from weir.flow.issues import FlowInvalid, Issue, Loc
from weir.flow.load import CompiledFlow, decode_flow_text, load_flow_file, validation_message
from weir.flow.model import API_VERSION
from weir.flow.yamlsrc import YamlSyntaxError, load_documents
from weir.harness.matching import problems
from weir.harness.spec import KIND, Case, FlowTest, NodesTaken
from weir.nodes.wait_payload import payload_problems

SUFFIX = ".test.yaml"


class BadTestFile(Exception):
    """The test file cannot be run; ``issues`` name the file and line of each reason."""

    def __init__(self, issues: list[Issue]) -> None:
        super().__init__("\n".join(str(issue) for issue in issues))
        self.issues = issues


@dataclass
class LoadedTest:
    file: Path
    test: FlowTest
    flow: CompiledFlow
    lines: dict[Loc, int]

    @property
    def name(self) -> str:
        return self.test.metadata.name

    def line_of(self, loc: Loc) -> int | None:
        """The line of ``loc`` in the test file, or of the nearest enclosing value."""
        for n in range(len(loc), -1, -1):
            if loc[:n] in self.lines:
                return self.lines[loc[:n]]
        return None


def find_test_files(paths: list[str]) -> list[Path]:
    """The files named, and under each directory named every ``*.test.yaml`` (sorted, hidden
    directories skipped). A path that does not exist is a BadTestFile."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            inside = sorted(
                file
                for file in path.rglob(f"*{SUFFIX}")
                if not any(part.startswith(".") for part in file.relative_to(path).parts)
            )
            if not inside:  # a typo in CI must not pass as "nothing failed"
                raise BadTestFile([Issue(f"no *{SUFFIX} file in this directory", file=raw)])
            found += inside
        elif path.exists():
            found.append(path)
        else:
            raise BadTestFile([Issue("no such file or directory", file=raw)])
    return list(dict.fromkeys(found))


def load_test_file(path: Path) -> LoadedTest:
    file = str(path)
    try:
        text = decode_flow_text(path.read_bytes(), file)
        documents = load_documents(text)
    except OSError as exc:
        raise BadTestFile([Issue(f"cannot read file: {exc.strerror}", file=file)]) from None
    except FlowInvalid as exc:
        raise BadTestFile(exc.issues) from None
    except YamlSyntaxError as exc:
        exc.issue.file = file
        raise BadTestFile([exc.issue]) from None
    if len(documents) != 1:
        raise BadTestFile(
            [Issue(f"expected one {KIND} in the file, found {len(documents)} documents", file=file)]
        )
    data, lines = documents[0].data, documents[0].lines

    def bad(issues: list[Issue]) -> BadTestFile:
        return BadTestFile([issue.locate(data, lines, file) for issue in issues])

    if not isinstance(data, dict) or data.get("kind") != KIND:
        found = data.get("kind") if isinstance(data, dict) else type(data).__name__
        wrong = Issue(
            f"expected apiVersion: {API_VERSION} and kind: {KIND}, found {found!r}", ("kind",)
        )
        raise bad([wrong])
    try:
        test = FlowTest.model_validate(data)
    except ValidationError as exc:
        raise bad(
            [Issue(validation_message(err), tuple(err["loc"])) for err in exc.errors()]
        ) from None
    flow = _load_flow(path, test, lines)
    loaded = LoadedTest(path, test, flow, lines)
    issues = list(_check_against_flow(loaded))
    if issues:
        raise bad(issues)
    return loaded


def _load_flow(path: Path, test: FlowTest, lines: dict[Loc, int]) -> CompiledFlow:
    flow_path = path.parent / test.spec.flow
    try:
        return load_flow_file(flow_path)
    except FlowInvalid as exc:
        line = lines.get(("spec", "flow"))
        first = Issue(f"the flow {test.spec.flow} cannot be loaded:", file=str(path), line=line)
        raise BadTestFile([first, *exc.issues]) from None


def _check_against_flow(loaded: LoadedTest) -> Iterator[Issue]:
    """Every node the test names exists in the flow; every expectation is well written."""
    spec, names = loaded.test.spec, list(loaded.flow.graph.nodes)
    for node in spec.mocks.nodes:
        yield from _known(node, names, ("spec", "mocks", "nodes", node))
    named: set[str] = set()
    for i, case in enumerate(spec.cases):
        at: Loc = ("spec", "cases", i)
        if case.name in named:
            yield Issue(f"another case is named {case.name!r} too", (*at, "name"))
        named.add(case.name)
        for node in case.mocks.nodes:
            yield from _known(node, names, (*at, "mocks", "nodes", node))
        for node, payload in case.resume.items():
            yield from _resumable(loaded, node, payload, (*at, "resume", node))
        for loc, node in _expected_nodes(case, (*at, "expect")):
            yield from _known(node, names, loc)
        expect = case.expect
        for node in case.expect.attempts:
            yield from _known(node, names, (*at, "expect", "attempts", node))
        for field in ("result", "outputs", "error", "requests"):
            if field in expect.model_fields_set:
                value = getattr(expect, field)
                for loc, message in problems(value, (*at, "expect", field)):
                    yield Issue(message, loc)


def _expected_nodes(case: Case, at: Loc) -> Iterator[tuple[Loc, str]]:
    expect = case.expect
    for node in expect.outputs:
        yield (*at, "outputs", node), node
    taken = expect.nodes
    if isinstance(taken, list):
        yield from (((*at, "nodes", n), node) for n, node in enumerate(taken))
    elif isinstance(taken, NodesTaken):
        for field in ("anyOrder", "includes", "excludes"):
            listed: list[str] = getattr(taken, field) or []
            yield from (((*at, "nodes", field, n), node) for n, node in enumerate(listed))


def _known(node: str, names: list[str], loc: Loc) -> Iterator[Issue]:
    if node not in names:
        close = difflib.get_close_matches(node, names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f" (nodes: {', '.join(names)})"
        yield Issue(f"the flow has no node {node!r}{hint}", loc)


def _resumable(loaded: LoadedTest, node: str, payload: Any, loc: Loc) -> Iterator[Issue]:
    """A resumed node is a wait node, and the payload is one its schema accepts."""
    found = loaded.flow.graph.nodes.get(node)
    if found is None:
        yield from _known(node, list(loaded.flow.graph.nodes), loc)
    elif found.kind != "wait":
        yield Issue(f"node {node!r} is a {found.kind} node: only a wait node is resumed", loc)
    else:
        schema = getattr(found.config, "schema_", None)
        for problem in payload_problems(schema, payload):
            yield Issue(f"the wait's schema refuses this payload: {problem}", loc)
