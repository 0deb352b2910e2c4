"""The field paths a CEL expression reads, found in its text, and the smaller binding they allow.

CEL converts every value bound to a variable into its own values before running, so binding
a whole trigger payload to evaluate ``double(input.qty) * input.price`` costs a conversion of
every field. When the expression only ever reads a variable through literal field paths, the
variable can be bound as a copy holding just those paths (the values at their ends whole).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

_CHAIN = re.compile(
    r"""(?<![\w.'"])([A-Za-z_][A-Za-z0-9_]*)"""
    r"""((?:\s*\.\s*[A-Za-z_][A-Za-z0-9_]*(?!\w|\s*\()"""
    r"""|\s*\[\s*(?:-?\d+|"[^"\\]*"|'[^'\\]*')\s*\])*)"""
)
_STEP = re.compile(r"""\.\s*([A-Za-z_][A-Za-z0-9_]*)|\[\s*(-?\d+|"[^"]*"|'[^']*')\s*\]""")

FieldTree = dict[str, "FieldTree | None"]
"""Keys read from a map: the keys read below each, or None where the value is read whole."""


def chains(source: str) -> Iterator[tuple[str | int, ...]]:
    """The field paths an expression reads (``nodes.fetch.customer["e-mail"]``), by their text."""
    for match in _CHAIN.finditer(source):
        keys = [match.group(1), *steps(match.group(2))]
        if len(keys) > 1:
            yield tuple(keys)


def chain_match(source: str) -> re.Match[str] | None:
    """The match of an expression that is one field path and nothing else."""
    return _CHAIN.fullmatch(source.strip())


def steps(text: str) -> list[str | int]:
    """The keys of ``.name``, ``["key"]`` and ``[0]`` steps, in order."""
    keys: list[str | int] = []
    for step in _STEP.finditer(text):
        name, index = step.groups()
        if name is not None:
            keys.append(name)
        elif index[0] in "\"'":
            keys.append(index[1:-1])
        else:
            keys.append(int(index))
    return keys


def field_trees(source: str, variables: tuple[str, ...]) -> dict[str, FieldTree]:
    """For each variable read only through literal field paths, the fields those paths read.

    A variable is left out (bound whole) where any mention of it is not the start of a path
    with a field step: used whole (``size(input)``, ``input == {}``, ``'a' in input``), a
    computed key (``input[k]``), a method on it, or a mention the path pattern does not read
    (inside a string, say). Index steps and what follows them read the value whole, as does
    the end of every path, so what the expression does with a value it reaches sees all of it.
    """
    trees: dict[str, FieldTree] = {}
    for name in variables:
        mentions = [m.start() for m in re.finditer(rf"(?<![\w.'\"]){re.escape(name)}\b", source)]
        paths = [m for m in _CHAIN.finditer(source) if m.group(1) == name]
        if not mentions or [m.start() for m in paths] != mentions:
            continue
        tree: FieldTree = {}
        for match in paths:
            keys = steps(match.group(2))
            if not keys or not isinstance(keys[0], str):
                break
            _add_path(tree, keys)
        else:
            trees[name] = tree
    return trees


def _add_path(tree: FieldTree, keys: list[str | int]) -> None:
    """Adds a path's leading field keys; a prefix read whole covers everything below it."""
    for position, key in enumerate(keys):
        assert isinstance(key, str)
        last = position + 1 == len(keys) or not isinstance(keys[position + 1], str)
        if last:
            tree[key] = None
            return
        if key in tree and tree[key] is None:
            return
        below = tree.setdefault(key, {})
        assert below is not None
        tree = below


def pruned(value: Any, tree: FieldTree | None) -> Any:
    """The value with only the fields ``tree`` names, where it is a dict; unchanged elsewhere.

    A missing field stays missing, so an expression fails where it failed on the whole value.
    """
    if tree is None or type(value) is not dict:
        return value
    return {key: pruned(value[key], below) for key, below in tree.items() if key in value}
