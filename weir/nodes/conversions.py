"""Conversions between JSON values and CSV or XML text, for the transform node.

XML maps to JSON the common way: attributes become ``@name`` keys, text next to attributes or
children becomes ``#text``, and a repeated child element becomes a list. DTDs and entities are
refused (defusedxml), so a document cannot expand into gigabytes or read local files.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from weir.lang.errors import ConfigError, NodeError
from weir.lang.expressions import json_default


def key_text(value: Any) -> str:
    """A group or column key as text: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, default=json_default, ensure_ascii=False)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=json_default, ensure_ascii=False)
    return str(value)


def to_csv(rows: list[dict[str, Any]], columns: list[str] | None, delimiter: str) -> str:
    if columns is None:
        columns = list(dict.fromkeys(key for row in rows for key in row))
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in columns])
    return out.getvalue()


def from_csv(text: str, delimiter: str, header: bool) -> list[Any]:
    try:
        rows = list(csv.reader(io.StringIO(text), delimiter=delimiter, strict=True))
    except csv.Error as exc:
        raise NodeError(f"transform csv2json: malformed CSV: {exc}", type="format") from None
    rows = [row for row in rows if row]
    if not header:
        return rows
    if not rows:
        return []
    names = rows[0]
    if len(set(names)) != len(names):
        duplicated = sorted({n for n in names if names.count(n) > 1})
        raise NodeError(
            f"transform csv2json: the header repeats column(s) {', '.join(duplicated)}",
            type="format",
        )
    result = []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(names):
            raise NodeError(
                f"transform csv2json: row {line} has {len(row)} fields, the header {len(names)}",
                type="format",
            )
        result.append(dict(zip(names, row, strict=True)))
    return result


def from_xml(text: str) -> dict[str, Any]:
    try:
        root = fromstring(text, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise ConfigError(
            f"transform xml2json: refused XML with a DTD or entities ({type(exc).__name__})"
        ) from None
    except ParseError as exc:
        raise NodeError(f"transform xml2json: malformed XML: {exc}", type="format") from None
    return {_local(root.tag): _element(root)}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]  # drop a {namespace} prefix


def _element(element: Element) -> Any:
    value: dict[str, Any] = {f"@{_local(k)}": v for k, v in element.attrib.items()}
    for child in element:
        name = _local(child.tag)
        converted = _element(child)
        if name in value:
            existing = value[name]
            if isinstance(existing, list) and getattr(existing, "_repeated", False):
                existing.append(converted)
            else:
                value[name] = _Repeated([existing, converted])
        else:
            value[name] = converted
    text = (element.text or "").strip()
    if not value:
        return text if text else None
    if text:
        value["#text"] = text
    return {k: list(v) if isinstance(v, _Repeated) else v for k, v in value.items()}


class _Repeated(list[Any]):
    """Marks a list made from repeated elements, so a child that is itself a list is kept."""

    _repeated = True


def to_xml(data: Any, root: str | None) -> str:
    if root is None:
        if not isinstance(data, dict) or len(data) != 1:
            raise ConfigError(
                "transform json2xml: data must be an object with exactly one key (the root "
                "element), or set `root`"
            )
        root, data = next(iter(data.items()))
    element = Element(_name(root))
    _fill(element, data)
    return tostring(element, encoding="unicode")


def _name(name: str) -> str:
    if not name or not (name[0].isalpha() or name[0] == "_") or any(c in name for c in " <>&\"'/"):
        raise ConfigError(f"transform json2xml: {name!r} is not a valid XML element name")
    return name


def _fill(element: Element, data: Any) -> None:
    if isinstance(data, dict):
        for key, value in data.items():
            if key.startswith("@"):
                element.set(_name(key[1:]), _cell(value))
            elif key == "#text":
                element.text = _cell(value)
            elif isinstance(value, list):
                for item in value:
                    _fill(SubElement(element, _name(key)), item)
            else:
                _fill(SubElement(element, _name(key)), value)
    elif data is not None:
        element.text = _cell(data)
