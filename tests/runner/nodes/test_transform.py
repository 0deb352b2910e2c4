"""The transform node: each operation on real data, and the errors a user can make."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from weir.lang.errors import ConfigError, NodeError
from weir.nodes.context import NodeContext
from weir.nodes.transform import TransformConfig, run

USERS = [
    {"id": 1, "name": "Ada", "team": "core", "active": True, "age": 36},
    {"id": 2, "name": "Linus", "team": "kernel", "active": False, "age": 54},
    {"id": 3, "name": "Grace", "team": "core", "active": True, "age": 85},
]


async def transform(make_ctx: Callable[..., NodeContext], config: dict[str, Any]) -> Any:
    ctx = make_ctx(scope={"input": {"users": USERS, "title": "Team"}, "nodes": {}})
    return await run(TransformConfig.model_validate(config), ctx)


async def test_set_builds_a_value_from_references_and_templates(make_ctx: Any) -> None:
    out = await transform(
        make_ctx,
        {
            "set": {
                "first": "$.input.users[0].name",
                "count": "${size(input.users)}",
                "t": "${input.title}!",
            }
        },
    )
    assert out == {"first": "Ada", "count": 3, "t": "Team!"}


async def test_map_filter_reduce_over_a_list(make_ctx: Any) -> None:
    mapped = await transform(
        make_ctx, {"map": {"items": "$.input.users", "to": {"n": "${index}:${item.name}"}}}
    )
    assert mapped == [{"n": "0:Ada"}, {"n": "1:Linus"}, {"n": "2:Grace"}]
    active = await transform(
        make_ctx, {"filter": {"items": "$.input.users", "where": "item.active"}}
    )
    assert [u["id"] for u in active] == [1, 3]
    total = await transform(
        make_ctx,
        {"reduce": {"items": "$.input.users", "initial": 0, "accumulate": "acc + item.age"}},
    )
    assert total == 175


async def test_sort_and_group(make_ctx: Any) -> None:
    oldest = await transform(
        make_ctx, {"sort": {"items": "$.input.users", "by": "item.age", "descending": True}}
    )
    assert [u["name"] for u in oldest] == ["Grace", "Linus", "Ada"]
    teams = await transform(make_ctx, {"group": {"items": "$.input.users", "by": "item.team"}})
    assert {k: [u["id"] for u in v] for k, v in teams.items()} == {"core": [1, 3], "kernel": [2]}


async def test_pick_and_rename_on_objects_and_lists(make_ctx: Any) -> None:
    picked = await transform(
        make_ctx, {"pick": {"data": "$.input.users", "fields": ["id", "nope"]}}
    )
    assert picked == [{"id": 1}, {"id": 2}, {"id": 3}]
    renamed = await transform(
        make_ctx, {"rename": {"data": "$.input.users[0]", "fields": {"name": "fullName"}}}
    )
    assert renamed["fullName"] == "Ada" and "name" not in renamed


async def test_csv_round_trip_keeps_columns_and_quotes(make_ctx: Any) -> None:
    text = await transform(
        make_ctx, {"json2csv": {"items": "$.input.users", "columns": ["id", "name", "active"]}}
    )
    assert text.splitlines() == ["id,name,active", "1,Ada,true", "2,Linus,false", "3,Grace,true"]
    ctx = make_ctx(scope={"input": {"csv": 'a;b\n1;"x;y"\n'}})
    rows = await run(
        TransformConfig.model_validate({"csv2json": {"text": "$.input.csv", "delimiter": ";"}}), ctx
    )
    assert rows == [{"a": "1", "b": "x;y"}]


async def test_a_csv_row_with_the_wrong_width_names_its_line(make_ctx: Any) -> None:
    ctx = make_ctx(scope={"input": {"csv": "a,b\n1,2\n3\n"}})
    with pytest.raises(NodeError, match="row 3 has 1 fields, the header 2"):
        await run(TransformConfig.model_validate({"csv2json": {"text": "$.input.csv"}}), ctx)


async def test_xml_maps_attributes_text_and_repeated_elements(make_ctx: Any) -> None:
    xml = '<order id="7"><line sku="a">2</line><line sku="b">1</line><note>rush</note></order>'
    ctx = make_ctx(scope={"input": {"xml": xml}})
    data = await run(TransformConfig.model_validate({"xml2json": {"text": "$.input.xml"}}), ctx)
    assert data == {
        "order": {
            "@id": "7",
            "line": [{"@sku": "a", "#text": "2"}, {"@sku": "b", "#text": "1"}],
            "note": "rush",
        }
    }
    back = await run(
        TransformConfig.model_validate({"json2xml": {"data": data}}), make_ctx(scope={})
    )
    assert back == xml


async def test_xml_with_entities_is_refused(make_ctx: Any) -> None:
    bomb = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;&a;</x>'
    ctx = make_ctx(scope={"input": {"xml": bomb}})
    with pytest.raises(ConfigError, match="refused XML with a DTD"):
        await run(TransformConfig.model_validate({"xml2json": {"text": "$.input.xml"}}), ctx)


async def test_a_non_list_where_a_list_is_needed_is_a_config_error(make_ctx: Any) -> None:
    with pytest.raises(ConfigError, match="items must be a list, got str"):
        await transform(make_ctx, {"map": {"items": "$.input.title", "to": "x"}})


async def test_a_filter_that_is_not_boolean_names_the_item(make_ctx: Any) -> None:
    with pytest.raises(NodeError, match="gave int for item 0"):
        await transform(make_ctx, {"filter": {"items": "$.input.users", "where": "item.id"}})


def test_exactly_one_operation_is_required() -> None:
    with pytest.raises(ValidationError, match=r"exactly one operation \(set, merge, map"):
        TransformConfig.model_validate({"set": 1, "pick": {"data": "$", "fields": ["a"]}})
    with pytest.raises(ValidationError, match="found none"):
        TransformConfig.model_validate({})


def test_a_bad_cel_expression_is_reported_when_the_flow_is_loaded() -> None:
    with pytest.raises(ValidationError, match="where"):
        TransformConfig.model_validate({"filter": {"items": "$.input", "where": "item.(("}})


async def test_merge_combines_objects_later_keys_winning(make_ctx: Any) -> None:
    out = await transform(
        make_ctx, {"merge": ["$.input.users[0]", {"team": "ops", "extra": "${input.title}"}]}
    )
    assert out == {**USERS[0], "team": "ops", "extra": "Team"}
    with pytest.raises(ConfigError, match=r"expected an object \(item 0\), got str"):
        await transform(make_ctx, {"merge": ["$.input.title", {"a": 1}]})


@pytest.mark.parametrize("operation", ["map", "filter", "sort", "group"])
def test_items_written_without_dollar_is_refused_not_taken_as_text(operation: str) -> None:
    extra = {"map": {"to": "$.item"}, "filter": {"where": "true"}, "sort": {"by": "$.item"}}
    fields = {"items": "input.rows", **extra.get(operation, {"by": "$.item"})}
    with pytest.raises(ValidationError, match=r"write \$\.input\.rows"):
        TransformConfig.model_validate({operation: fields})
