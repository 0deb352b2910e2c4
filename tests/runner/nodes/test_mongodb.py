"""The mongodb node against FerretDB (the MongoDB wire protocol over SQLite, tools/ferretdb)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tests.conftest import require_service
from tests.servers.ferretdb import BINARY, FerretServer, ferretdb_available, start_ferretdb
from tests.servers.ports import free_port
from weir.lang.errors import ConfigError, ConnectionFailed, NodeError, NodeTimeout
from weir.nodes.context import NodeContext
from weir.nodes.mongodb import MongodbConfig, address, connection, run
from weir.nodes.resources import Resources


@pytest.fixture
def collection() -> str:
    """A collection of its own for each test: they share one server."""
    return f"people_{uuid.uuid4().hex[:8]}"


def mongo(server: FerretServer, collection: str, **fields: Any) -> MongodbConfig:
    return MongodbConfig.model_validate(
        {"url": server.url, "database": "weirtest", "collection": collection, **fields}
    )


PEOPLE = [
    {"_id": 1, "name": "Ada", "age": 36, "born": {"$date": "1815-12-10T00:00:00Z"}},
    {"_id": 2, "name": "Linus", "age": 54, "tags": ["kernel", "git"]},
    {"_id": 3, "name": "Grace", "age": 85},
]


async def seed(
    server: FerretServer, collection: str, ctx: NodeContext, documents: list[Any] = PEOPLE
) -> None:
    await run(mongo(server, collection, insert={"documents": documents}), ctx)


async def test_find_filters_projects_sorts_and_limits_with_references(
    ferretdb: FerretServer, collection: str, make_ctx: Callable[..., NodeContext]
) -> None:
    ctx = make_ctx(scope={"input": {"min": 40}})
    await seed(ferretdb, collection, ctx)
    config = mongo(
        ferretdb,
        collection,
        find={
            "filter": {"age": {"$gt": "$.input.min"}},
            "projection": {"name": 1},
            "sort": {"age": -1},
            "limit": 1,
        },
    )
    out = await run(config, ctx)
    assert out == {"documents": [{"_id": 3, "name": "Grace"}], "count": 1}
    assert ctx.input["filter"] == {"age": {"$gt": 40}}
    everyone = await run(mongo(ferretdb, collection, find={"sort": {"_id": 1}, "skip": 1}), ctx)
    assert [d["name"] for d in everyone["documents"]] == ["Linus", "Grace"]
    assert everyone["documents"][0]["tags"] == ["kernel", "git"]


async def test_object_ids_and_dates_come_out_as_json_and_go_back_in(
    ferretdb: FerretServer, collection: str, make_ctx: Callable[..., NodeContext]
) -> None:
    ctx = make_ctx()
    inserted = await run(
        mongo(ferretdb, collection, insert={"document": {"name": "Ada", "at": {"$date": 0}}}),
        ctx,
    )
    assert inserted["insertedCount"] == 1
    (oid,) = inserted["insertedIds"]
    assert set(oid) == {"$oid"} and len(oid["$oid"]) == 24
    found = await run(mongo(ferretdb, collection, find={"filter": {"_id": oid}}), ctx)
    assert found["documents"] == [{"_id": oid, "name": "Ada", "at": "1970-01-01T00:00:00+00:00"}]
    by_date = await run(
        mongo(
            ferretdb,
            collection,
            find={"filter": {"at": {"$lt": {"$date": "2000-01-01T00:00:00Z"}}}},
        ),
        ctx,
    )
    assert by_date["count"] == 1


async def test_aggregate_runs_the_pipeline(
    ferretdb: FerretServer, collection: str, make_ctx: Callable[..., NodeContext]
) -> None:
    ctx = make_ctx(scope={"input": {"min": 40}})
    await seed(ferretdb, collection, ctx)
    config = mongo(
        ferretdb,
        collection,
        aggregate={
            "pipeline": [
                {"$match": {"age": {"$gte": "$.input.min"}}},
                {"$group": {"_id": None, "total": {"$sum": "$age"}}},
            ]
        },
    )
    out = await run(config, ctx)
    assert out == {"documents": [{"_id": None, "total": 139}], "count": 1}
    names = await run(
        mongo(
            ferretdb,
            collection,
            aggregate={"pipeline": [{"$sort": {"age": -1}}, {"$project": {"_id": 0, "name": 1}}]},
        ),
        ctx,
    )
    assert names["documents"] == [{"name": "Grace"}, {"name": "Linus"}, {"name": "Ada"}]


async def test_insert_many_returns_the_ids_in_order(
    ferretdb: FerretServer, collection: str, make_ctx: Callable[..., NodeContext]
) -> None:
    ctx = make_ctx(scope={"input": {"rows": [{"_id": "a"}, {"_id": "b", "n": 2}]}})
    out = await run(mongo(ferretdb, collection, insert={"documents": "$.input.rows"}), ctx)
    assert out == {"insertedCount": 2, "insertedIds": ["a", "b"]}
    empty = await run(mongo(ferretdb, collection, insert={"documents": []}), ctx)
    assert empty == {"insertedCount": 0, "insertedIds": []}


async def test_update_one_many_and_upsert(
    ferretdb: FerretServer, collection: str, make_ctx: Callable[..., NodeContext]
) -> None:
    ctx = make_ctx()
    await seed(ferretdb, collection, ctx)
    one = await run(
        mongo(ferretdb, collection, update={"filter": {}, "update": {"$set": {"seen": True}}}),
        ctx,
    )
    assert one == {"matchedCount": 1, "modifiedCount": 1, "upsertedId": None}
    many = await run(
        mongo(
            ferretdb,
            collection,
            update={"filter": {}, "update": {"$inc": {"age": 1}}, "many": True},
        ),
        ctx,
    )
    assert many == {"matchedCount": 3, "modifiedCount": 3, "upsertedId": None}
    upserted = await run(
        mongo(
            ferretdb,
            collection,
            update={"filter": {"_id": 9}, "update": {"$set": {"name": "New"}}, "upsert": True},
        ),
        ctx,
    )
    assert upserted == {"matchedCount": 0, "modifiedCount": 0, "upsertedId": 9}
    ages = await run(mongo(ferretdb, collection, find={"filter": {"_id": {"$lt": 9}}}), ctx)
    assert [d["age"] for d in ages["documents"]] == [37, 55, 86]


async def test_delete_one_and_many(
    ferretdb: FerretServer, collection: str, make_ctx: Callable[..., NodeContext]
) -> None:
    ctx = make_ctx()
    await seed(ferretdb, collection, ctx)
    one = await run(mongo(ferretdb, collection, delete={"filter": {"age": {"$gt": 40}}}), ctx)
    assert one == {"deletedCount": 1}
    rest = await run(mongo(ferretdb, collection, delete={"filter": {}, "many": True}), ctx)
    assert rest == {"deletedCount": 2}
    left = await run(mongo(ferretdb, collection, find={}), ctx)
    assert left["count"] == 0


async def test_a_duplicate_id_is_a_duplicate_key_error(
    ferretdb: FerretServer, collection: str, make_ctx: Callable[..., NodeContext]
) -> None:
    ctx = make_ctx()
    await seed(ferretdb, collection, ctx)
    with pytest.raises(NodeError) as one:
        await run(mongo(ferretdb, collection, insert={"document": {"_id": 1}}), ctx)
    assert one.value.type == "duplicate_key" and not one.value.retryable
    assert f"mongodb insert on weirtest.{collection}" in str(one.value)
    assert "duplicate key" in str(one.value)
    with pytest.raises(NodeError) as many:
        await run(
            mongo(ferretdb, collection, insert={"documents": [{"_id": 7}, {"_id": 2}, {"_id": 8}]}),
            ctx,
        )
    assert many.value.type == "duplicate_key"
    assert many.value.details == {"insertedCount": 1}  # ordered: stopped at the duplicate
    assert "document 1" in str(many.value)


async def test_a_bad_pipeline_or_filter_is_a_config_error(
    ferretdb: FerretServer, collection: str, make_ctx: Callable[..., NodeContext]
) -> None:
    ctx = make_ctx()
    await seed(ferretdb, collection, ctx)
    with pytest.raises(ConfigError, match=r"\$bogus") as stage:
        await run(mongo(ferretdb, collection, aggregate={"pipeline": [{"$bogus": {}}]}), ctx)
    assert "mongodb aggregate on weirtest." in str(stage.value)
    with pytest.raises(ConfigError, match=r"\$nope"):
        await run(mongo(ferretdb, collection, find={"filter": {"$nope": 1}}), ctx)
    with pytest.raises(ConfigError, match=r"update filter: not valid MongoDB Extended JSON"):
        await run(
            mongo(
                ferretdb,
                collection,
                update={"filter": {"_id": {"$oid": "xyz"}}, "update": {"$set": {"a": 1}}},
            ),
            ctx,
        )
    with pytest.raises(ConfigError, match=r"\$ operators"):
        await run(mongo(ferretdb, collection, update={"filter": {}, "update": {"a": 1}}), ctx)


async def test_values_of_the_wrong_shape_are_config_errors_naming_the_field(
    ferretdb: FerretServer, collection: str, make_ctx: Callable[..., NodeContext]
) -> None:
    ctx = make_ctx(scope={"input": {"text": "hello", "list": [1]}})
    with pytest.raises(ConfigError, match="find filter must be an object, got str"):
        await run(mongo(ferretdb, collection, find={"filter": "$.input.text"}), ctx)
    with pytest.raises(ConfigError, match="insert documents must be a list of objects"):
        await run(mongo(ferretdb, collection, insert={"documents": "$.input.list"}), ctx)
    with pytest.raises(ConfigError, match="update must be an object or a list, got str"):
        await run(mongo(ferretdb, collection, update={"filter": {}, "update": "$.input.text"}), ctx)


async def test_an_unreachable_server_is_a_retryable_connection_error_without_the_password(
    make_ctx: Callable[..., NodeContext],
) -> None:
    port = free_port()  # nothing listens there
    ctx = make_ctx(secrets={("mongo", "password"): "pa55-w0rd-secret"})
    config = MongodbConfig.model_validate(
        {
            "url": f"mongodb://weir:inline-pa55@127.0.0.1:{port}/shop",
            "collection": "orders",
            "timeout": "1s",
            "find": {},
        }
    )
    with pytest.raises(ConnectionFailed) as failed:
        await run(config, ctx)
    assert failed.value.retryable
    assert f"cannot reach MongoDB at mongodb://weir@127.0.0.1:{port}/shop" in str(failed.value)
    assert "inline-pa55" not in str(failed.value)
    from_secret = MongodbConfig.model_validate(
        {
            "url": f"mongodb://weir@127.0.0.1:{port}/shop",
            "password": {"secret": "mongo", "key": "password"},
            "collection": "orders",
            "timeout": "1s",
            "find": {},
        }
    )
    with pytest.raises(ConnectionFailed) as failed_again:
        await run(from_secret, ctx)
    assert "pa55-w0rd-secret" not in str(failed_again.value)
    assert f"127.0.0.1:{port}" in str(failed_again.value)


async def test_a_server_that_stops_answering_is_a_timeout(
    tmp_path: Path, make_ctx: Callable[..., NodeContext]
) -> None:
    require_service(ferretdb_available(), f"FerretDB at {BINARY} (run `make ferretdb`)")
    server = start_ferretdb(tmp_path)  # its own: paused below
    try:
        ctx = make_ctx()
        config = mongo(server, "slow", timeout="1s", find={})
        assert (await run(config, ctx))["count"] == 0  # connected
        server.pause()
        with pytest.raises(NodeTimeout) as timed_out:
            await run(config, ctx)
        assert timed_out.value.retryable
        assert "mongodb find on weirtest.slow" in str(timed_out.value)
    finally:
        server.stop()


async def test_a_url_without_a_database_needs_the_database_field(
    ferretdb: FerretServer, make_ctx: Callable[..., NodeContext]
) -> None:
    config = MongodbConfig.model_validate({"url": ferretdb.url, "collection": "c", "find": {}})
    with pytest.raises(ConfigError, match="set `database` or name one in the URL"):
        await run(config, make_ctx())
    in_url = MongodbConfig.model_validate(
        {"url": f"{ferretdb.url}weirtest", "collection": "empty_one", "find": {}}
    )
    assert await run(in_url, make_ctx()) == {"documents": [], "count": 0}


async def test_a_bad_url_is_a_config_error_without_the_password(
    make_ctx: Callable[..., NodeContext],
) -> None:
    config = MongodbConfig.model_validate(
        {"url": "mongodb://u:secret-pw@h:port/", "collection": "c"} | {"database": "d", "find": {}}
    )
    with pytest.raises(ConfigError) as bad:
        await run(config, make_ctx())
    assert "secret-pw" not in str(bad.value)
    assert "mongodb url" in str(bad.value)


async def test_one_client_per_url_shared_by_executions_and_closed_with_the_engine(
    ferretdb: FerretServer, collection: str, make_ctx: Callable[..., NodeContext]
) -> None:
    resources = Resources()
    ctx = make_ctx()
    ctx.resources = resources
    config = mongo(ferretdb, collection, find={})
    await run(config, ctx)
    await run(config, ctx)
    clients = [v for k, v in resources._items.items() if k[0] == "mongodb"]
    assert len(clients) == 1
    (key,) = (k for k in resources._items if k[0] == "mongodb")
    assert key[1] == ferretdb.url.rstrip("/")
    await resources.aclose()
    assert resources._items == {}


def test_validation_takes_exactly_one_operation_and_checks_names() -> None:
    base = {"url": "mongodb://h/", "collection": "c"}
    with pytest.raises(ValidationError, match="exactly one operation"):
        MongodbConfig.model_validate(base)
    with pytest.raises(ValidationError, match="exactly one operation"):
        MongodbConfig.model_validate({**base, "find": {}, "delete": {"filter": {}}})
    with pytest.raises(ValidationError, match="exactly one of document and documents"):
        MongodbConfig.model_validate({**base, "insert": {}})
    with pytest.raises(ValidationError, match="filter"):
        MongodbConfig.model_validate({**base, "delete": {}})
    with pytest.raises(ValidationError, match="not a collection name"):
        MongodbConfig.model_validate({**base, "collection": "a$b", "find": {}})
    with pytest.raises(ValidationError, match="not a database name"):
        MongodbConfig.model_validate({**base, "database": "a.b", "find": {}})
    with pytest.raises(ValidationError, match="Extra inputs"):
        MongodbConfig.model_validate({**base, "find": {"filtre": {}}})


def test_the_address_and_the_circuit_key_hold_no_password(
    make_ctx: Callable[..., NodeContext],
) -> None:
    assert address("mongodb://u:p%40ss@a:1,b:2/db?authSource=admin") == "mongodb://u@a:1,b:2/db"
    assert address("mongodb+srv://cluster.example.org/") == "mongodb+srv://cluster.example.org"
    assert address("mongodb://h:27017/?password=x") == "mongodb://h:27017"
    config = MongodbConfig.model_validate(
        {"url": "mongodb://u:pw@h:27017/db", "collection": "c", "find": {}}
    )
    assert connection(config, make_ctx()) == "mongodb://u@h:27017/db"
