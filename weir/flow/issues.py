"""Validation findings that name the place: file, line, node and field."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Loc = tuple[str | int, ...]


@dataclass
class Issue:
    message: str
    loc: Loc = ()
    file: str | None = None
    line: int | None = None
    node: str | None = None
    field: str | None = None

    def locate(self, data: Any, lines: dict[Loc, int], file: str | None) -> Issue:
        """Fill in node, field and line from the raw document the loc points into."""
        path = _data_path(data, self.loc)
        node = field_path = None
        if len(path) >= 3 and path[:2] == ("spec", "nodes") and isinstance(path[2], int):
            raw = data["spec"]["nodes"][path[2]]
            node = raw.get("name") if isinstance(raw, dict) else None
            field_path = ".".join(str(p) for p in path[3:]) or None
        elif path:
            field_path = ".".join(str(p) for p in path)
        line = None
        for n in range(len(path), -1, -1):
            if path[:n] in lines:
                line = lines[path[:n]]
                break
        return Issue(
            self.message, path, file, line, node if isinstance(node, str) else None, field_path
        )

    def __str__(self) -> str:
        where = []
        if self.node:
            where.append(f"node {self.node!r}")
        if self.field:
            where.append(f"field {self.field}")
        place = ", ".join(where)
        prefix = ":".join(str(p) for p in (self.file, self.line) if p is not None)
        return ": ".join(p for p in (prefix, place, self.message) if p)

    def to_dict(self) -> dict[str, Any]:
        return {
            k: v
            for k, v in {
                "file": self.file,
                "line": self.line,
                "node": self.node,
                "field": self.field,
                "message": self.message,
            }.items()
            if v is not None
        }


def _data_path(data: Any, loc: Loc) -> Loc:
    """The part of a pydantic loc that exists in the document (drops union and validator tags)."""
    path: list[str | int] = []
    current = data
    for part in loc:
        if (isinstance(current, dict) and part in current) or (
            isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        ):
            current = current[part]  # type: ignore[index]
            path.append(part)
        elif isinstance(part, str) and (
            "[" in part or part[:1].isupper() or part in ("str", "int", "list", "dict")
        ):
            continue  # pydantic's name for a union member or validator
        else:
            path.append(part)
            current = None
    return tuple(path)


@dataclass
class FlowInvalid(Exception):
    """The flow cannot be loaded; ``issues`` says every reason found."""

    issues: list[Issue] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(str(i) for i in self.issues)
