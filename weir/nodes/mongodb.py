"""`mongodb`: find, aggregate, insert, update or delete documents in a MongoDB collection.

One operation key per node, as the sql and file-like kinds have. Values travel as documents,
never as text spliced into a query: a filter is an object whose leaves may be ``$.``
references. One pymongo ``AsyncMongoClient`` (a connection pool) per URL is shared by every
execution of the runner and closed with it. Documents go out as JSON and come back in as BSON
by ``weir.nodes.mongodb_values``.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, ClassVar

from pydantic import Field, field_validator, model_validator

from weir.lang.durations import Duration
from weir.lang.errors import AuthFailed, ConfigError, ConnectionFailed, NodeError, NodeTimeout
from weir.lang.expressions import Items, Value
from weir.lang.types import SecretOrText
from weir.nodes.context import NodeContext
from weir.nodes.kind import NodeKind
from weir.nodes.mongodb_values import from_bson, to_bson
from weir.nodes.operations import OneOperation, Operation
from weir.secrets.redact import hide_password

DUPLICATE_KEY = 11000
AUTH_CODES = frozenset({13, 18})  # Unauthorized, AuthenticationFailed
DOCUMENT_VALIDATION = 121
RETRY_LABELS = ("RetryableWriteError", "TransientTransactionError")
_DATABASE = re.compile(r'[^/\\. "$\x00]{1,63}')
_COLLECTION = re.compile(r"[^$\x00]{1,255}")


def _object(ctx: NodeContext, expr: Any, where: str, default: Any = None) -> Any:
    """A config field evaluated to an object (as BSON), or ``default`` when it is unset."""
    if expr is None:
        return default
    value = ctx.eval(expr)
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be an object, got {type(value).__name__}")
    return to_bson(value, where)


def _objects(ctx: NodeContext, expr: Any, where: str) -> list[Any]:
    """A config field evaluated to a list of objects (as BSON)."""
    return _list_of_objects(ctx.eval(expr), where)


def _list_of_objects(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ConfigError(f"{where} must be a list of objects")
    converted: list[Any] = to_bson(value, where)
    return converted


# The collection handed to each operation is pymongo's AsyncCollection (imported only in run).
MongoOp = Operation[Any]


class MongoFind(MongoOp):
    filter: Value | None = Field(None, description="Which documents; all when unset.")
    projection: Value | None = Field(
        None, description="Fields to return ({name: 1} or {secret: 0}); whole documents if unset."
    )
    sort: Value | None = Field(None, description="Order: {field: 1 or -1, ...}, keys in turn.")
    skip: int = Field(0, ge=0, description="Leave out this many documents first.")
    limit: int | None = Field(None, ge=1, description="Return at most this many documents.")

    async def run(self, target: Any, ctx: NodeContext) -> Any:
        cursor = target.find(
            _object(ctx, self.filter, "find filter", {}),
            projection=_object(ctx, self.projection, "find projection"),
            sort=_object(ctx, self.sort, "find sort"),
            skip=self.skip,
            limit=self.limit or 0,
        )
        documents = [from_bson(document) for document in await cursor.to_list()]
        return {"documents": documents, "count": len(documents)}


class MongoAggregate(MongoOp):
    pipeline: Items = Field(description="The stages: [{$match: {...}}, {$group: {...}}, ...].")

    async def run(self, target: Any, ctx: NodeContext) -> Any:
        cursor = await target.aggregate(_objects(ctx, self.pipeline, "aggregate pipeline"))
        documents = [from_bson(document) for document in await cursor.to_list()]
        return {"documents": documents, "count": len(documents)}


class MongoInsert(MongoOp):
    document: Value | None = Field(None, description="One document to insert.")
    documents: Items | None = Field(None, description="A list of documents to insert.")
    ordered: bool = Field(
        True, description="documents: stop at the first failure (else insert all others)."
    )

    @model_validator(mode="after")
    def _one_of(self) -> MongoInsert:
        if (self.document is None) == (self.documents is None):
            raise ValueError("insert takes exactly one of document and documents")
        return self

    async def run(self, target: Any, ctx: NodeContext) -> Any:
        if self.document is not None:
            result = await target.insert_one(_object(ctx, self.document, "insert document"))
            ids = [result.inserted_id]
        else:
            documents = _objects(ctx, self.documents, "insert documents")
            if not documents:
                return {"insertedCount": 0, "insertedIds": []}
            result = await target.insert_many(documents, ordered=self.ordered)
            ids = result.inserted_ids
        return {"insertedCount": len(ids), "insertedIds": [from_bson(i) for i in ids]}


class MongoUpdate(MongoOp):
    filter: Value = Field(description="Which documents; {} for all of them.")
    update: Value = Field(
        description="Update operators ({$set: {...}, $inc: {...}}) or an update pipeline (a list)."
    )
    many: bool = Field(False, description="Update every matching document, not only the first.")
    upsert: bool = Field(False, description="Insert a document when none matches.")

    async def run(self, target: Any, ctx: NodeContext) -> Any:
        query = _object(ctx, self.filter, "update filter")
        change = ctx.eval(self.update)
        if isinstance(change, list):
            change = _list_of_objects(change, "update pipeline")
        elif isinstance(change, dict):
            change = to_bson(change, "update")
        else:
            raise ConfigError(f"update must be an object or a list, got {type(change).__name__}")
        method = target.update_many if self.many else target.update_one
        result = await method(query, change, upsert=self.upsert)
        upserted = result.upserted_id
        return {
            "matchedCount": result.matched_count,
            "modifiedCount": result.modified_count,
            "upsertedId": None if upserted is None else from_bson(upserted),
        }


class MongoDelete(MongoOp):
    filter: Value = Field(description="Which documents; {} for all of them.")
    many: bool = Field(False, description="Delete every matching document, not only the first.")

    async def run(self, target: Any, ctx: NodeContext) -> Any:
        query = _object(ctx, self.filter, "delete filter")
        method = target.delete_many if self.many else target.delete_one
        result = await method(query)
        return {"deletedCount": result.deleted_count}


class MongodbConfig(OneOperation[Any]):
    KIND: ClassVar[str] = "mongodb"

    url: SecretOrText = Field(
        description="mongodb://user:password@host:27017/database?options or mongodb+srv://...; "
        "usually from a secret."
    )
    password: SecretOrText | None = Field(
        None, description="The password, for the user the URL names (which then holds none)."
    )
    database: str | None = Field(None, description="Database name; the URL's path if unset.")
    collection: str = Field(description="Collection name.")
    timeout: Duration | None = Field(
        None, description="For the whole operation, finding a server included."
    )
    find: MongoFind | None = Field(None, description="Find documents: {documents, count}.")
    aggregate: MongoAggregate | None = Field(
        None, description="Run an aggregation pipeline: {documents, count}."
    )
    insert: MongoInsert | None = Field(
        None, description="Insert one document or a list: {insertedCount, insertedIds}."
    )
    update: MongoUpdate | None = Field(
        None, description="Update one or many documents: {matchedCount, modifiedCount, upsertedId}."
    )
    delete: MongoDelete | None = Field(
        None, description="Delete one or many documents: {deletedCount}."
    )

    @field_validator("database")
    @classmethod
    def _database_name(cls, value: str | None) -> str | None:
        if value is not None and not _DATABASE.fullmatch(value):
            raise ValueError(f'{value!r} is not a database name (no /\\. "$, at most 63 chars)')
        return value

    @field_validator("collection")
    @classmethod
    def _collection_name(cls, value: str) -> str:
        if not _COLLECTION.fullmatch(value) or value.startswith("system."):
            raise ValueError(f"{value!r} is not a collection name (no $, not system.*)")
        return value


def address(url: str) -> str:
    """``scheme://user@host1,host2/database`` of a MongoDB URL: no password, no options (which
    may carry credentials). Written by hand: a URL with several hosts is no URL to urllib."""
    scheme, _, rest = url.strip().partition("://")
    authority, _, path = rest.partition("/")
    authority, _, _ = authority.partition("?")
    userinfo, at, hosts = authority.rpartition("@")
    user = userinfo.partition(":")[0] + "@" if at else ""
    database = path.partition("?")[0]
    return f"{scheme.lower()}://{user}{hosts}" + (f"/{database}" if database else "")


def _client(ctx: NodeContext, url: str, password: str | None) -> Any:
    """The runner's client for this URL and password, made on first use. It is known by the
    URL's address and a digest of the whole, so no key ever holds a password."""
    from pymongo import AsyncMongoClient
    from pymongo.errors import ConfigurationError

    digest = hashlib.sha256(f"{url}\0{password or ''}".encode()).hexdigest()[:16]

    def create() -> Any:
        options: dict[str, Any] = {"tz_aware": True, "uuidRepresentation": "standard"}
        if password is not None:
            options["password"] = password
        try:
            return AsyncMongoClient(url, appname="weir", **options)
        except (ConfigurationError, ValueError, TypeError) as exc:
            message = _scrub(str(exc), password)
            raise ConfigError(f"mongodb url {_scrub(url, password)!r}: {message}") from None

    return ctx.resources.get(("mongodb", address(url), digest), create, _close)


async def _close(client: Any) -> None:
    await client.close()


def _collection(config: MongodbConfig, client: Any) -> Any:
    from pymongo.errors import ConfigurationError

    if config.database is not None:
        return client[config.database][config.collection]
    try:
        return client.get_default_database()[config.collection]
    except ConfigurationError:
        raise ConfigError(
            "mongodb needs a database: set `database` or name one in the URL "
            "(mongodb://host/DATABASE)"
        ) from None


async def run(config: MongodbConfig, ctx: NodeContext) -> Any:
    url = ctx.reveal(config.url)
    password = ctx.reveal(config.password) if config.password is not None else None
    try:
        import pymongo
    except ImportError:
        raise ConfigError("pymongo is not installed: pip install 'weir[mongodb]'") from None
    collection = _collection(config, _client(ctx, url, password))
    operation = config.operation
    name = type(operation).__name__.removeprefix("Mongo").lower()
    where = f"mongodb {name} on {collection.full_name}"
    try:
        if config.timeout is None:
            return await operation.run(collection, ctx)
        with pymongo.timeout(config.timeout):
            return await operation.run(collection, ctx)
    except NodeError:
        raise
    except Exception as exc:
        raise _error(exc, where, address(url), password) from None


def _scrub(text: str, password: str | None) -> str:
    text = hide_password(text)
    return text.replace(password, "***") if password else text


def _error(exc: Exception, where: str, server: str, password: str | None) -> NodeError:
    """A pymongo error as the node's typed error (docs/nodes/mongodb.md, Errors)."""
    from pymongo import errors

    message = _scrub(_reason(exc), password)
    if isinstance(exc, errors.ServerSelectionTimeoutError):
        return ConnectionFailed(f"{where}: cannot reach MongoDB at {server} ({message})")
    if getattr(exc, "timeout", False):
        return NodeTimeout(f"{where}: MongoDB did not answer in time: {message}")
    if isinstance(exc, errors.ConnectionFailure):
        return ConnectionFailed(f"{where}: lost the connection to {server} ({message})")
    if not isinstance(exc, errors.OperationFailure):
        # Refused before anything was sent: a value pymongo or BSON cannot take.
        return ConfigError(f"{where}: {message}")
    codes = _codes(exc)
    if DUPLICATE_KEY in codes:
        details = {"insertedCount": exc.details.get("nInserted", 0)} if exc.details else {}
        return NodeError(f"{where}: {message}", type="duplicate_key", details=details)
    if codes & AUTH_CODES:
        return AuthFailed(f"{where}: MongoDB refused the credentials: {message}")
    if isinstance(exc, errors.CursorNotFound) or any(map(exc.has_error_label, RETRY_LABELS)):
        return NodeError(f"{where}: {message}", type="mongodb", retryable=True)
    if DOCUMENT_VALIDATION in codes or isinstance(exc, errors.WriteConcernError):
        return NodeError(f"{where}: {message}", type="mongodb")
    return ConfigError(f"{where}: MongoDB refused it: {message}")


def _codes(exc: Any) -> set[int]:
    """The error code, and for a bulk write each failed document's code."""
    codes = {exc.code} if exc.code is not None else set()
    for failure in (exc.details or {}).get("writeErrors", ()):
        codes.add(failure.get("code"))
    return codes


def _reason(exc: Exception) -> str:
    """The first line of pymongo's message, without the topology dump it appends."""
    from pymongo import errors

    if isinstance(exc, errors.BulkWriteError):
        failures = exc.details.get("writeErrors", [])
        if failures:
            return f"document {failures[0].get('index')}: {failures[0].get('errmsg')}"
    text = (getattr(exc, "details", None) or {}).get("errmsg") or str(exc) or type(exc).__name__
    for tail in (", full error:", ", Timeout:", " (configured timeouts"):
        text = text.split(tail)[0]
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def connection(config: MongodbConfig, ctx: NodeContext) -> str | None:
    """The server's address without password or options: its circuit breaker's key."""
    return address(ctx.reveal(config.url))


KIND = NodeKind(
    "mongodb",
    MongodbConfig,
    run,
    "Find, aggregate, insert, update or delete documents in a MongoDB collection.",
    connection,
)
