"""Where the console finds flows: the files and directories given on its command line (local
mode), or the Flow resources on the API server (``--kube``).

A flow is shown whether or not it is valid; only a valid local flow can be run in-process.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import yaml

from weir.flow.issues import FlowInvalid
from weir.flow.load import CompiledFlow, decode_flow_text, load_flows_text
from weir.flow.model import API_VERSION
from weir.flow.triggers import TRIGGER_KINDS

log = logging.getLogger("weir.console")

FLOW_DOCUMENT = re.compile(r"^kind:\s*Flow\s*$", re.MULTILINE)
"""A YAML file in a directory is read as flows only when it declares one."""


@dataclass
class FlowEntry:
    namespace: str
    name: str
    trigger: str
    status: str
    conditions: list[dict[str, Any]]
    spec: dict[str, Any]
    yaml: str
    compiled: CompiledFlow | None = field(default=None, repr=False)
    """Locally, the valid flow the console can run; None in a cluster or when invalid."""


class FlowSource(Protocol):
    async def entries(
        self, *, namespace: str | None, namespaces: frozenset[str] | None
    ) -> list[FlowEntry]:
        """Flows in ``namespace`` (None: any) among ``namespaces`` (None: all)."""
        ...

    async def get(self, namespace: str, name: str) -> FlowEntry | None: ...

    async def aclose(self) -> None: ...


def trigger_kind(spec: dict[str, Any]) -> str:
    trigger = spec.get("trigger")
    if isinstance(trigger, dict):
        return next((kind for kind in TRIGGER_KINDS if kind in trigger), "")
    return ""


class LocalFlows:
    """Flows in files, and in the ``*.yaml``/``*.yml`` files under directories, read again
    when a file changes: a flow edited while the console runs is served as it now is."""

    def __init__(self, paths: list[str | Path]) -> None:
        self.paths = [Path(path) for path in paths]
        self._cache: dict[tuple[Path, bool], tuple[tuple[int, int], list[FlowEntry]]] = {}

    async def entries(
        self, *, namespace: str | None = None, namespaces: frozenset[str] | None = None
    ) -> list[FlowEntry]:
        if namespace or (namespaces is not None and "" not in namespaces):
            return []  # local flows have no namespace
        return await asyncio.to_thread(self._load_all)

    async def get(self, namespace: str, name: str) -> FlowEntry | None:
        if namespace:
            return None
        return next((flow for flow in await self.entries() if flow.name == name), None)

    async def aclose(self) -> None:
        return None

    def files(self) -> list[tuple[Path, bool]]:
        """Each file to read, and whether it was named (else found in a directory)."""
        found: list[tuple[Path, bool]] = []
        for path in self.paths:
            if path.is_dir():
                candidates = sorted([*path.rglob("*.yaml"), *path.rglob("*.yml")])
                found += [(file, False) for file in candidates]
            else:
                found.append((path, True))
        return found

    def _load_all(self) -> list[FlowEntry]:
        flows: list[FlowEntry] = []
        first: dict[str, tuple[int, Path]] = {}
        for file, named in self.files():
            for flow in self._load(file, named):
                if flow.name not in first:
                    first[flow.name] = (len(flows), file)
                    flows.append(flow)
                    continue
                index, where = first[flow.name]
                note = _condition(False, "Duplicate", f"{file} defines flow {flow.name!r} too")
                kept = flows[index]
                flows[index] = replace(kept, conditions=[*kept.conditions, note])
                log.warning(
                    "flow %r is defined in %s and in %s; serving %s", flow.name, where, file, where
                )
        return flows

    def _load(self, file: Path, named: bool) -> list[FlowEntry]:
        """The flows in ``file``, read again only when it changed. A file found in a
        directory counts only if it declares a Flow; a file named explicitly always does."""
        try:
            stat = file.stat()
        except OSError as exc:
            return [_invalid(file.stem, "", f"{file}: cannot read file: {exc.strerror}")]
        version = (stat.st_mtime_ns, stat.st_size)
        cached = self._cache.get((file, named))
        if cached is not None and cached[0] == version:
            return cached[1]
        flows = _read(file) if named or _declares_a_flow(file) else []
        if named and not flows:
            flows = [_invalid(file.stem, "", f"{file}: no Flow in the file")]
        self._cache[file, named] = (version, flows)
        return flows


def _declares_a_flow(file: Path) -> bool:
    try:
        return FLOW_DOCUMENT.search(file.read_text(encoding="utf-8", errors="replace")) is not None
    except OSError:
        return False


def _read(file: Path) -> list[FlowEntry]:
    try:
        text = decode_flow_text(file.read_bytes(), str(file))
    except OSError as exc:
        return [_invalid(file.stem, "", f"{file}: cannot read file: {exc.strerror}")]
    except FlowInvalid as exc:
        return [_invalid(file.stem, "", "; ".join(str(issue) for issue in exc.issues))]
    documents = _flow_documents(text)
    try:
        compiled = load_flows_text(text, str(file))
    except FlowInvalid as exc:
        names = [str(doc.get("metadata", {}).get("name") or "") for doc in documents]
        name = next((n for n in names if n), file.stem)
        return [_invalid(name, text, "; ".join(str(issue) for issue in exc.issues))]
    by_name = {str(doc.get("metadata", {}).get("name")): doc for doc in documents}
    entries = []
    for flow in compiled:
        document = by_name.get(flow.name, {})
        shown = text if len(compiled) == 1 else yaml.safe_dump(document, sort_keys=False)
        entries.append(
            FlowEntry(
                namespace="",
                name=flow.name,
                trigger=flow.flow.spec.trigger.kind,
                status="Ready",
                conditions=[_condition(True, "Valid", f"revision {flow.revision}")],
                spec=document.get("spec") or {},
                yaml=shown,
                compiled=flow,
            )
        )
    return entries


def _flow_documents(text: str) -> list[dict[str, Any]]:
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError:
        return []
    return [d for d in documents if isinstance(d, dict) and d.get("kind") == "Flow"]


def _condition(valid: bool, reason: str, message: str) -> dict[str, Any]:
    return {"type": "Valid", "status": str(valid), "reason": reason, "message": message}


def _invalid(name: str, text: str, message: str) -> FlowEntry:
    spec: dict[str, Any] = {}
    documents = _flow_documents(text)
    if documents and isinstance(documents[0].get("spec"), dict):
        spec = documents[0]["spec"]
    return FlowEntry(
        namespace="",
        name=name,
        trigger=trigger_kind(spec),
        status="Invalid",
        conditions=[_condition(False, "Invalid", message)],
        spec=spec,
        yaml=text,
    )


class ClusterFlows:
    """Flow resources read from the API server with the console's own ServiceAccount; the
    caller's access was checked before (access.py) and limits the namespaces asked for."""

    def __init__(self, kube: Any) -> None:
        self.kube = kube

    async def entries(
        self, *, namespace: str | None = None, namespaces: frozenset[str] | None = None
    ) -> list[FlowEntry]:
        from weir.kube.client import resource_path

        if namespace is not None:
            if namespaces is not None and namespace not in namespaces:
                return []
            wanted: Sequence[str | None] = [namespace]
        elif namespaces is None:
            wanted = [None]  # every namespace in one call
        else:
            wanted = sorted(namespaces)
        answers = await asyncio.gather(
            *(self.kube.get(resource_path(API_VERSION, "flows", ns)) for ns in wanted)
        )
        items = [item for answer in answers for item in (answer or {}).get("items", [])]
        return [_cluster_entry(item) for item in items]

    async def get(self, namespace: str, name: str) -> FlowEntry | None:
        from weir.kube.client import ApiError, NotFound, resource_path

        try:
            found = await self.kube.get(resource_path(API_VERSION, "flows", namespace, name))
        except NotFound:
            return None
        except ApiError as exc:
            if exc.status == 400:  # a name that cannot be a Flow's
                return None
            raise
        return _cluster_entry(found)

    async def aclose(self) -> None:
        await self.kube.close()


def _cluster_entry(item: dict[str, Any]) -> FlowEntry:
    metadata = item.get("metadata") or {}
    spec = item.get("spec") or {}
    status = item.get("status") or {}
    shown = {
        "apiVersion": item.get("apiVersion", API_VERSION),
        "kind": "Flow",
        "metadata": {
            key: metadata[key] for key in ("name", "namespace", "labels") if key in metadata
        },
        "spec": spec,
    }
    return FlowEntry(
        namespace=str(metadata.get("namespace", "")),
        name=str(metadata.get("name", "")),
        trigger=trigger_kind(spec),
        status=str(status.get("phase") or "Unknown"),
        conditions=list(status.get("conditions") or []),
        spec=spec,
        yaml=yaml.safe_dump(shown, sort_keys=False),
    )
