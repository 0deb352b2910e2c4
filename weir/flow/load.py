"""Load and validate flows: the one path used by `weir validate`, `weir run`, the runner and the
operator. Everything is parsed and checked here; an execution only evaluates."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from weir.flow.graph import Graph, check_graph
from weir.flow.issues import FlowInvalid, Issue, Loc
from weir.flow.model import API_VERSION, Flow
from weir.flow.yamlsrc import Document, YamlSyntaxError, load_documents
from weir.lang.expressions import Expr
from weir.lang.types import SecretRef


@dataclass
class CompiledFlow:
    """A validated flow, ready to execute any number of times."""

    flow: Flow
    graph: Graph
    revision: str
    source: str | None = None
    file: str | None = None
    secret_names: frozenset[str] = field(default_factory=frozenset)

    @property
    def name(self) -> str:
        return self.flow.name

    def secret_refs(self) -> list[SecretRef]:
        """Every secret reference in the nodes and the trigger."""
        spec = self.flow.spec
        found = [*walk(spec.nodes, ("nodes",)), *walk(spec.trigger, ("trigger",))]
        return [ref for _loc, ref in found if isinstance(ref, SecretRef)]


def load_flow_file(path: str | Path) -> CompiledFlow:
    """Load the single Flow in a file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FlowInvalid([Issue(f"cannot read file: {exc.strerror}", file=str(path))]) from None
    flows = load_flows_text(decode_flow_text(data, str(path)), str(path))
    if len(flows) != 1:
        raise FlowInvalid(
            [Issue(f"expected one Flow in the file, found {len(flows)}", file=str(path))]
        )
    return flows[0]


def decode_flow_text(data: bytes, file: str | None = None) -> str:
    """A flow file's bytes as text; anything but UTF-8 is a FlowInvalid naming the line."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise FlowInvalid(
            [
                Issue(
                    f"the file is not UTF-8 text: byte 0x{data[exc.start]:02x} cannot be read",
                    file=file,
                    line=line,
                )
            ]
        ) from None


def load_flows_text(text: str, file: str | None = None) -> list[CompiledFlow]:
    """Every Flow in a (multi-document) YAML text; other Weir kinds are skipped."""
    try:
        documents = load_documents(text)
    except YamlSyntaxError as exc:
        exc.issue.file = file
        raise FlowInvalid([exc.issue]) from None
    flows: list[CompiledFlow] = []
    issues: list[Issue] = []
    for doc in documents:
        if _is_other_weir_kind(doc.data):
            continue  # FlowSecretRef and friends are checked by their own code
        try:
            flows.append(compile_flow(doc.data, text, file, doc))
        except FlowInvalid as exc:
            issues.extend(exc.issues)
    if issues:
        raise FlowInvalid(issues)
    return flows


def _is_other_weir_kind(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and data.get("kind") not in (None, "Flow")
        and str(data.get("apiVersion", "")).startswith("weir.dev/")
    )


def compile_flow(
    data: Any, source: str | None = None, file: str | None = None, doc: Document | None = None
) -> CompiledFlow:
    """Validate a Flow given as plain data (from YAML, or from the Kubernetes API)."""
    lines = doc.lines if doc else {}

    def fail(issues: list[Issue]) -> FlowInvalid:
        return FlowInvalid([issue.locate(data, lines, file) for issue in issues])

    if not isinstance(data, dict):
        raise fail(
            [
                Issue(
                    "a flow file holds a Flow resource (a mapping with apiVersion, kind, metadata, spec)"
                )
            ]
        )
    if data.get("kind") != "Flow" or data.get("apiVersion") != API_VERSION:
        raise fail(
            [
                Issue(
                    f"expected apiVersion: {API_VERSION} and kind: Flow, found "
                    f"{data.get('apiVersion')!r} / {data.get('kind')!r}",
                    ("kind",),
                )
            ]
        )
    try:
        flow = Flow.model_validate(data)
    except ValidationError as exc:
        raise fail(
            [Issue(validation_message(err), tuple(err["loc"])) for err in exc.errors()]
        ) from None
    graph, issues = check_graph(flow)
    declared = frozenset(binding.name for binding in flow.spec.secrets)
    issues += list(_check_references(flow, declared))
    if issues or graph is None:
        raise fail(issues)
    canonical = json.dumps(data.get("spec"), sort_keys=True, default=str).encode()
    revision = hashlib.sha256(canonical).hexdigest()[:16]
    return CompiledFlow(flow, graph, revision, source, file, declared)


def validation_message(error: Any) -> str:
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if error["type"] == "extra_forbidden":
        return "unknown field"
    if error["type"] == "missing":
        return "required field is missing"
    return message


def _check_references(flow: Flow, declared: frozenset[str]) -> Iterator[Issue]:
    names = {node.name for node in flow.spec.nodes}
    places: list[tuple[Loc, Any, str | None]] = [
        (loc, value, node.name)
        for i, node in enumerate(flow.spec.nodes)
        for loc, value in walk(node, ("spec", "nodes", i))
    ]
    places += [(loc, value, None) for loc, value in walk(flow.spec.trigger, ("spec", "trigger"))]
    if flow.spec.result is not None:
        places.append((("spec", "result"), flow.spec.result, None))
    for loc, value, owner in places:
        if isinstance(value, Expr):
            for ref in value.node_refs():
                if ref not in names:
                    yield Issue(f"reference to unknown node {ref!r} in {value.source!r}", loc)
                elif ref == owner and loc[3:4] != ("when",):
                    yield Issue(f"node {ref!r} cannot read its own output here; use `output`", loc)
        elif isinstance(value, SecretRef) and value.secret not in declared:
            yield Issue(
                f"secret {value.secret!r} is not declared in spec.secrets "
                f"(declared: {', '.join(sorted(declared)) or 'none'})",
                loc,
            )


def walk(value: Any, loc: Loc) -> Iterator[tuple[Loc, Any]]:
    """Every expression and secret reference inside a model, with where it sits."""
    if isinstance(value, Expr | SecretRef):
        yield loc, value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from walk(getattr(value, name), (*loc, name))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from walk(item, (*loc, key))
    elif isinstance(value, list):
        for n, item in enumerate(value):
            yield from walk(item, (*loc, n))
