"""Finding a flow by name among flow files, for the `subflow` node outside a cluster.

The rule (docs/nodes/subflow.md): the directories searched are the parent flow file's own
directory, then each directory of ``WEIR_FLOWS_PATH`` (separated by ``:``), in that order. In
each, the files ``*.yaml`` and ``*.yml`` directly in it, then ``*/flow.yaml`` one level down
(the layout of examples/), are read; the first that holds one valid Flow whose
``metadata.name`` is the name wins. Files that are not one valid Flow (a test file, an
invalid flow) are skipped. A file is compiled again only when its size or mtime changed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from weir.flow.issues import FlowInvalid
from weir.flow.load import CompiledFlow, load_flow_file
from weir.lang.errors import ConfigError

PATH_ENV = "WEIR_FLOWS_PATH"


def search_dirs(flow_file: str | Path | None) -> list[Path]:
    """The parent file's directory, then ``$WEIR_FLOWS_PATH``'s directories."""
    dirs = [] if flow_file is None else [Path(flow_file).resolve().parent]
    for part in os.environ.get(PATH_ENV, "").split(os.pathsep):
        if part.strip():
            path = Path(part.strip()).resolve()
            if path not in dirs:
                dirs.append(path)
    return dirs


class FlowFinder:
    def __init__(self, dirs: Sequence[Path]) -> None:
        self.dirs = list(dirs)
        self._seen: dict[Path, tuple[tuple[int, int], CompiledFlow | None]] = {}

    def find(self, name: str) -> CompiledFlow:
        """The flow called ``name``; ConfigError naming the directories if there is none."""
        for path in self._files():
            compiled = self._load(path)
            if compiled is not None and compiled.name == name:
                return compiled
        where = ", ".join(str(d) for d in self.dirs) or "(no directory: set WEIR_FLOWS_PATH)"
        raise ConfigError(f"subflow: no flow named {name!r} in {where}")

    def names(self) -> list[str]:
        """The names of the valid flows found."""
        return [c.name for c in (self._load(p) for p in self._files()) if c is not None]

    def called_from(self, root: CompiledFlow) -> list[str]:
        """The flows ``root`` calls, directly or through the flows it calls, that are found."""
        found: dict[str, CompiledFlow] = {}
        todo = called_flows(root)
        while todo:
            name = todo.pop()
            if name in found or name == root.name:
                continue
            try:
                found[name] = self.find(name)
            except ConfigError:
                continue
            todo.extend(called_flows(found[name]))
        return sorted(found)

    def _files(self) -> Iterator[Path]:
        for directory in self.dirs:
            try:
                direct = sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml"))
            except OSError:
                continue
            yield from (p for p in direct if p.is_file())
            yield from sorted(directory.glob("*/flow.yaml"))

    def _load(self, path: Path) -> CompiledFlow | None:
        try:
            stat = path.stat()
        except OSError:
            return None
        key = (stat.st_mtime_ns, stat.st_size)
        seen = self._seen.get(path)
        if seen is not None and seen[0] == key:
            return seen[1]
        try:
            compiled: CompiledFlow | None = load_flow_file(path)
        except FlowInvalid:
            compiled = None
        self._seen[path] = (key, compiled)
        return compiled


def called_flows(compiled: CompiledFlow) -> list[str]:
    """The flows ``compiled``'s subflow nodes call (names fixed in the flow)."""
    return [flow for _, flow in _calls(compiled)]


def _calls(compiled: CompiledFlow) -> list[tuple[str, str]]:
    """Each subflow node with the flow it calls."""
    return [
        (node.name, str(getattr(node.config, "flow", "")))
        for node in compiled.flow.spec.nodes
        if node.kind == "subflow"
    ]


def unfound_subflows(compiled: CompiledFlow) -> list[str]:
    """What `weir validate` warns of: subflow nodes calling a flow not found next to the file
    (nor in ``$WEIR_FLOWS_PATH``) — a warning, as a runner linked to a console finds flows
    there instead."""
    calls = _calls(compiled)  # by node, for the message
    if not calls:
        return []
    finder = FlowFinder(search_dirs(compiled.file))
    known = set(finder.names())
    where = ", ".join(str(d) for d in finder.dirs)
    return [
        f"node {node!r} calls flow {name!r}, which is not in {where} (found at run time only "
        "through a console)"
        for node, name in calls
        if name not in known
    ]
