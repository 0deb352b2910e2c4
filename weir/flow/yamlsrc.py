"""YAML documents read together with the line of every key and item, for error messages.

The reader is bounded so that no input, however hostile, costs more than a moment:

* a text larger than ``MAX_TEXT_BYTES`` (1 MiB, the size limit of a ConfigMap) is refused;
* collections nest at most ``MAX_DEPTH`` levels, aliases included;
* aliases (``*name``) may expand to at most ``MAX_ALIAS_NODES`` nodes in all, so an alias bomb
  ("billion laughs") is refused instead of expanding exponentially; an alias inside its own
  anchor (a recursive structure) is refused;
* mapping keys are strings (``? [a, b]`` complex keys, and keys that YAML reads as numbers,
  booleans, null or dates are refused with a hint to quote them); merge keys (``<<: *base``)
  work as in YAML 1.1.

Every refusal is a ``YamlSyntaxError`` carrying an ``Issue`` with the line.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import yaml

from weir.flow.issues import Issue, Loc

MAX_TEXT_BYTES = 1024 * 1024
MAX_DEPTH = 100
MAX_ALIAS_NODES = 10_000

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass
class Document:
    data: Any
    lines: dict[Loc, int]
    index: int


class YamlSyntaxError(Exception):
    def __init__(self, issue: Issue) -> None:
        super().__init__(issue.message)
        self.issue = issue


class _Refused(Exception):
    """A bound or rule of this reader was broken at ``line``."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class _Loader(yaml.SafeLoader):
    """Composes nodes with a depth bound; an alias becomes a marked copy of its anchor's node
    (sharing its children), so the reader knows where each alias was written."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            target = super().compose_node(parent, index)
            alias = copy.copy(target)
            if alias is not None:
                alias.start_mark, alias.end_mark = event.start_mark, event.end_mark
                setattr(alias, "weir_alias_of", getattr(target, "weir_alias_of", target))  # noqa: B010
            return alias
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise _Refused(f"YAML nests more than {MAX_DEPTH} levels deep", mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load_documents(text: str) -> list[Document]:
    """Every document in the text; raises ``YamlSyntaxError`` for YAML syntax errors and for
    inputs beyond the reader's bounds."""
    size = len(text.encode("utf-8", "surrogatepass")) if len(text) <= MAX_TEXT_BYTES else len(text)
    if size > MAX_TEXT_BYTES:
        raise YamlSyntaxError(
            Issue(
                f"the file is {size / 1024 / 1024:.1f} MiB; flow files are limited to "
                f"{MAX_TEXT_BYTES // 1024 // 1024} MiB"
            )
        )
    documents: list[Document] = []
    loader: _Loader | None = None
    try:
        loader = _Loader(text)
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            lines: dict[Loc, int] = {}
            data = _Builder(loader, lines).build(node)
            documents.append(Document(data, lines, len(documents)))
    except _Refused as exc:
        raise YamlSyntaxError(Issue(exc.message, line=exc.line)) from None
    except yaml.reader.ReaderError as exc:
        at = text.count("\n", 0, exc.position or 0) + 1
        character = f"#x{exc.character:04x}" if isinstance(exc.character, int) else "character"
        raise YamlSyntaxError(
            Issue(f"YAML syntax error: {exc.reason} ({character})", line=at)
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or str(exc)
        raise YamlSyntaxError(Issue(f"YAML syntax error: {problem}", line=line)) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(Issue(f"YAML error: {exc}")) from None
    except RecursionError:
        raise YamlSyntaxError(Issue(f"YAML nests more than {MAX_DEPTH} levels deep")) from None
    finally:
        if loader is not None:
            loader.dispose()
    return documents


class _Builder:
    """Builds plain data from one document's node graph, recording the line of every path and
    counting what aliases expand to."""

    def __init__(self, loader: _Loader, lines: dict[Loc, int]) -> None:
        self.loader = loader
        self.lines = lines
        self.alias_nodes = 0
        self.alias_line: int | None = None  # where the outermost alias being expanded sits
        self.ancestors: set[int] = set()
        self.depth = 0

    def build(self, node: yaml.Node) -> Any:
        return self._value(node, ())

    def _value(self, node: yaml.Node, path: Loc) -> Any:
        self.depth += 1
        try:
            return self._node(node, path)
        finally:
            self.depth -= 1

    def _node(self, node: yaml.Node, path: Loc) -> Any:
        line = node.start_mark.line + 1
        self.lines[path] = line
        if self.depth > MAX_DEPTH:
            raise _Refused(f"YAML nests more than {MAX_DEPTH} levels deep", line)
        original = getattr(node, "weir_alias_of", node)
        outermost = original is not node and self.alias_line is None
        if outermost:
            self.alias_line = line
        try:
            if self.alias_line is not None:
                self.alias_nodes += 1
                if self.alias_nodes > MAX_ALIAS_NODES:
                    raise _Refused(
                        f"YAML aliases expand to more than {MAX_ALIAS_NODES:,} values "
                        "(an alias bomb?); write the values out or use fewer aliases",
                        self.alias_line,
                    )
            if isinstance(node, yaml.ScalarNode):
                return self._scalar(node)
            if id(original) in self.ancestors:
                raise _Refused("YAML alias refers to a collection that contains it", line)
            self.ancestors.add(id(original))
            try:
                if isinstance(node, yaml.MappingNode):
                    return self._mapping(node, path)
                if isinstance(node, yaml.SequenceNode):
                    if node.tag != _SEQ_TAG:
                        raise _Refused(f"unsupported YAML tag {node.tag!r} on a list", line)
                    return [self._value(item, (*path, i)) for i, item in enumerate(node.value)]
                raise _Refused(f"unsupported YAML node {type(node).__name__}", line)
            finally:
                self.ancestors.discard(id(original))
        finally:
            if outermost:
                self.alias_line = None

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, OverflowError, AttributeError) as exc:
            kind = node.tag.rsplit(":", 1)[-1]
            raise _Refused(
                f"cannot read {node.value!r} as {kind}: {exc}", node.start_mark.line + 1
            ) from None

    def _mapping(self, node: yaml.MappingNode, path: Loc) -> dict[str, Any]:
        line = node.start_mark.line + 1
        if node.tag != _MAP_TAG:
            raise _Refused(f"unsupported YAML tag {node.tag!r} on a mapping", line)
        merged: dict[str, Any] = {}
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                for source in reversed(self._merge_sources(value_node)):
                    merged.update(self._value(source, path))
                continue
            key = self._key(key_node)
            if key in result:
                raise _Refused(f"duplicate key {key!r}", key_node.start_mark.line + 1)
            result[key] = self._value(value_node, (*path, key))
            self.lines[(*path, key)] = key_node.start_mark.line + 1
        if merged:
            result = {**{k: v for k, v in merged.items() if k not in result}, **result}
        self.lines[path] = line
        return result

    def _merge_sources(self, node: yaml.Node) -> list[yaml.MappingNode]:
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            return [node]
        if isinstance(node, yaml.SequenceNode) and all(
            isinstance(item, yaml.MappingNode) for item in node.value
        ):
            return list(node.value)
        raise _Refused("a merge key (<<) takes a mapping or a list of mappings", line)

    def _key(self, node: yaml.Node) -> str:
        line = node.start_mark.line + 1
        if not isinstance(node, yaml.ScalarNode):
            raise _Refused("a mapping key must be a plain string, not a list or a mapping", line)
        key = self._scalar(node)
        if not isinstance(key, str):
            raise _Refused(
                f"the mapping key {node.value!r} reads as {_type_name(key)}; keys are strings, "
                f"quote it: {_quoted(node.value)}",
                line,
            )
        return key


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number"}.get(
        type(value), f"a {type(value).__name__}"
    )


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
