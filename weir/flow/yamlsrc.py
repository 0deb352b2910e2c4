"""YAML documents read together with the line of every key and item, for error messages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from weir.flow.issues import Issue, Loc


@dataclass
class Document:
    data: Any
    lines: dict[Loc, int]
    index: int


class _Loader(yaml.SafeLoader):
    pass


def load_documents(text: str) -> list[Document]:
    """Every document in the text; raises ``Issue`` lists for YAML syntax errors."""
    loader = _Loader(text)
    documents: list[Document] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            lines: dict[Loc, int] = {}
            data = _construct(loader, node, (), lines)
            documents.append(Document(data, lines, len(documents)))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or str(exc)
        raise YamlSyntaxError(Issue(f"YAML syntax error: {problem}", line=line)) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(Issue(f"YAML error: {exc}")) from None
    finally:
        loader.dispose()
    return documents


class YamlSyntaxError(Exception):
    def __init__(self, issue: Issue) -> None:
        super().__init__(issue.message)
        self.issue = issue


def _construct(loader: _Loader, node: yaml.Node, path: Loc, lines: dict[Loc, int]) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key in result:
                raise yaml.MarkedYAMLError(
                    problem=f"duplicate key {key!r}", problem_mark=key_node.start_mark
                )
            result[key] = _construct(loader, value_node, (*path, key), lines)
            lines[(*path, key)] = key_node.start_mark.line + 1
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_construct(loader, item, (*path, i), lines) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)
