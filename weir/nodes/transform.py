"""`transform`: reshape data — set, map, filter, reduce, sort, group, pick, rename, and
conversions between JSON, CSV and XML. Exactly one operation per node; the output is the
plain result (a list for map/filter/sort, an object for group, text for json2csv/json2xml)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any

from pydantic import Field, model_validator

from weir.lang.errors import ConfigError, NodeError
from weir.lang.expressions import CelExpr, Condition, Expr, Items, Value
from weir.lang.types import Strict
from weir.nodes import conversions
from weir.nodes.context import NodeContext
from weir.nodes.kind import NodeKind


class MapOp(Strict):
    items: Items = Field(description="The list, e.g. $.nodes.query.rows.")
    to: Value = Field(description="What each item becomes; `item` and `index` are in scope.")


class FilterOp(Strict):
    items: Items = Field(description="The list.")
    where: Condition = Field(description='CEL per item, e.g. item.status == "active".')


class ReduceOp(Strict):
    items: Items = Field(description="The list.")
    initial: Value = Field(description="The starting value of `acc`.")
    accumulate: Condition = Field(
        description="CEL giving the next `acc` from `acc`, `item`, `index`."
    )


class SortOp(Strict):
    items: Items = Field(description="The list.")
    by: Condition = Field(description="CEL giving each item's sort key, e.g. item.name.")
    descending: bool = False


class GroupOp(Strict):
    items: Items = Field(description="The list.")
    by: Condition = Field(description="CEL giving each item's group key (used as text).")


class PickOp(Strict):
    data: Value = Field(description="An object or a list of objects.")
    fields: list[str] = Field(
        min_length=1, description="The fields to keep; missing ones are left out."
    )


class RenameOp(Strict):
    data: Value = Field(description="An object or a list of objects.")
    fields: dict[str, str] = Field(min_length=1, description="Old name → new name.")


class Json2CsvOp(Strict):
    items: Items = Field(description="A list of objects.")
    columns: list[str] | None = Field(
        None, description="Column order; the keys in order of appearance if unset."
    )
    delimiter: str = Field(",", min_length=1, max_length=1)


class Csv2JsonOp(Strict):
    text: Value = Field(description="CSV text (or a file reference's content read by a file node).")
    delimiter: str = Field(",", min_length=1, max_length=1)
    header: bool = Field(True, description="The first row names the fields; else rows are lists.")


class Xml2JsonOp(Strict):
    text: Value = Field(description="XML text. DTDs and entities are refused.")


class Json2XmlOp(Strict):
    data: Value = Field(description="An object in the shape xml2json produces.")
    root: str | None = Field(
        None, description="Root element when `data` has several top-level keys."
    )


OPERATIONS = (
    "set",
    "merge",
    "map",
    "filter",
    "reduce",
    "sort",
    "group",
    "pick",
    "rename",
    "json2csv",
    "csv2json",
    "xml2json",
    "json2xml",
)


class TransformConfig(Strict):
    set: Value | None = Field(
        None, description="Build a value: any JSON with references and templates."
    )
    merge: list[Value] | None = Field(
        None, min_length=2, description="Objects merged left to right (later keys win)."
    )
    map: MapOp | None = None
    filter: FilterOp | None = None
    reduce: ReduceOp | None = None
    sort: SortOp | None = None
    group: GroupOp | None = None
    pick: PickOp | None = None
    rename: RenameOp | None = None
    json2csv: Json2CsvOp | None = None
    csv2json: Csv2JsonOp | None = None
    xml2json: Xml2JsonOp | None = None
    json2xml: Json2XmlOp | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> TransformConfig:
        chosen = [
            op for op in OPERATIONS if op in self.model_fields_set and getattr(self, op) is not None
        ]
        if len(chosen) != 1:
            found = ", ".join(chosen) or "none"
            # The message of every single-operation kind (see operations.chosen_operation);
            # transform counts `set: null` as set, so it checks the fields given itself.
            raise ValueError(
                f"transform takes exactly one operation ({', '.join(OPERATIONS)}), found {found}"
            )
        return self

    @cached_property
    def operation(self) -> str:
        """Found once per loaded flow, not on every run (13 fields to look through)."""
        return next(
            op for op in OPERATIONS if op in self.model_fields_set and getattr(self, op) is not None
        )


def _items(ctx: NodeContext, op: str, expr: Expr) -> list[Any]:
    value = ctx.eval(expr)
    if not isinstance(value, list):
        raise ConfigError(f"transform {op}: items must be a list, got {type(value).__name__}")
    return value


def _per_item(ctx: NodeContext, expr: CelExpr | Expr, item: Any, index: int, **extra: Any) -> Any:
    return expr.evaluate({**ctx.scope, "item": item, "index": index, **extra})


def _boolean(value: Any, op: str, index: int) -> bool:
    if not isinstance(value, bool):
        raise NodeError(
            f"transform {op}: condition gave {type(value).__name__} for item {index}, not a boolean",
            type="expression",
        )
    return value


def _each_object(data: Any, op: str, change: Any) -> Any:
    if isinstance(data, list):
        return [change(_object(row, op, i)) for i, row in enumerate(data)]
    return change(_object(data, op, None))


def _object(value: Any, op: str, index: int | None) -> dict[str, Any]:
    if not isinstance(value, dict):
        where = f" (item {index})" if index is not None else ""
        raise ConfigError(f"transform {op}: expected an object{where}, got {type(value).__name__}")
    return value


async def run(config: TransformConfig, ctx: NodeContext) -> Any:
    op = config.operation
    return _PERFORM[op](getattr(config, op), ctx)


def _set(value: Expr, ctx: NodeContext) -> Any:
    return ctx.eval(value)


def _merge(parts: list[Expr], ctx: NodeContext) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for i, part in enumerate(parts):
        merged.update(_object(ctx.eval(part), "merge", i))
    return merged


def _map(spec: MapOp, ctx: NodeContext) -> list[Any]:
    return [_per_item(ctx, spec.to, x, i) for i, x in enumerate(_items(ctx, "map", spec.items))]


def _filter(spec: FilterOp, ctx: NodeContext) -> list[Any]:
    return [
        x
        for i, x in enumerate(_items(ctx, "filter", spec.items))
        if _boolean(_per_item(ctx, spec.where, x, i), "filter", i)
    ]


def _reduce(spec: ReduceOp, ctx: NodeContext) -> Any:
    acc = ctx.eval(spec.initial)
    for i, x in enumerate(_items(ctx, "reduce", spec.items)):
        acc = _per_item(ctx, spec.accumulate, x, i, acc=acc)
    return acc


def _sort(spec: SortOp, ctx: NodeContext) -> list[Any]:
    items = _items(ctx, "sort", spec.items)
    keys = [_per_item(ctx, spec.by, x, i) for i, x in enumerate(items)]
    order = range(len(items))
    try:
        ranked = sorted(order, key=lambda i: keys[i], reverse=spec.descending)
    except TypeError:
        kinds = sorted({type(k).__name__ for k in keys})
        raise NodeError(
            f"transform sort: keys of different types cannot be compared ({', '.join(kinds)})",
            type="expression",
        ) from None
    return [items[i] for i in ranked]


def _group(spec: GroupOp, ctx: NodeContext) -> dict[str, list[Any]]:
    groups: dict[str, list[Any]] = {}
    for i, x in enumerate(_items(ctx, "group", spec.items)):
        key = _per_item(ctx, spec.by, x, i)
        groups.setdefault(conversions.key_text(key), []).append(x)
    return groups


def _pick(spec: PickOp, ctx: NodeContext) -> Any:
    wanted = spec.fields
    return _each_object(
        ctx.eval(spec.data), "pick", lambda row: {k: row[k] for k in wanted if k in row}
    )


def _rename(spec: RenameOp, ctx: NodeContext) -> Any:
    names = spec.fields
    return _each_object(
        ctx.eval(spec.data), "rename", lambda row: {names.get(k, k): v for k, v in row.items()}
    )


def _json2csv(spec: Json2CsvOp, ctx: NodeContext) -> str:
    rows = [_object(r, "json2csv", i) for i, r in enumerate(_items(ctx, "json2csv", spec.items))]
    return conversions.to_csv(rows, spec.columns, spec.delimiter)


def _csv2json(spec: Csv2JsonOp, ctx: NodeContext) -> Any:
    return conversions.from_csv(_text(ctx, "csv2json", spec.text), spec.delimiter, spec.header)


def _xml2json(spec: Xml2JsonOp, ctx: NodeContext) -> Any:
    return conversions.from_xml(_text(ctx, "xml2json", spec.text))


def _json2xml(spec: Json2XmlOp, ctx: NodeContext) -> str:
    return conversions.to_xml(ctx.eval(spec.data), spec.root)


_PERFORM: dict[str, Callable[[Any, NodeContext], Any]] = {
    "set": _set,
    "merge": _merge,
    "map": _map,
    "filter": _filter,
    "reduce": _reduce,
    "sort": _sort,
    "group": _group,
    "pick": _pick,
    "rename": _rename,
    "json2csv": _json2csv,
    "csv2json": _csv2json,
    "xml2json": _xml2json,
    "json2xml": _json2xml,
}
"""Each operation (one per name in OPERATIONS) and what it does with its spec."""


def _text(ctx: NodeContext, op: str, expr: Expr) -> str:
    value = ctx.eval(expr)
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if not isinstance(value, str):
        raise ConfigError(f"transform {op}: expected text, got {type(value).__name__}")
    return value


KIND = NodeKind(
    "transform",
    TransformConfig,
    run,
    "Reshape data: set, map, filter, reduce, sort, group, CSV and XML.",
)
