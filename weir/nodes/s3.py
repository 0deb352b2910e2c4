"""`s3`: list, get, put, delete, copy, move and presign objects in S3 or an S3-compatible store.

Downloads are spooled to disk and passed on as file references; uploads stream from a file
reference, bytes or text, in parallel parts above the multipart threshold.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import mimetypes
import posixpath
import re
import threading
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from pydantic import Field, field_validator, model_validator

from weir.lang.durations import Duration
from weir.lang.errors import ConfigError
from weir.lang.expressions import Text, Value
from weir.lang.types import ByteSize, SecretRef, Strict
from weir.nodes import s3_ops
from weir.nodes.context import NodeContext
from weir.nodes.kind import NodeKind
from weir.nodes.operations import OneOperation
from weir.nodes.path_ops import compiled_regex
from weir.nodes.s3_client import S3Handle, S3Settings, translate
from weir.nodes.spool import file_ref, is_file_ref

T = TypeVar("T")
MIB = 1024 * 1024
MIN_PART = 5 * MIB
"""S3's smallest part (all but the last) in a multipart upload."""


class S3List(Strict):
    prefix: Text | None = Field(None, description="Only keys starting with this prefix.")
    regex: str | None = Field(None, description="Regular expression searched in each key.")
    limit: int | None = Field(None, ge=1, description="Return at most this many objects.")

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        return compiled_regex(value)


class S3Get(Strict):
    key: Text = Field(description="Object key to download; the output is a file reference.")


class S3Put(Strict):
    key: Text = Field(description="Object key to write (replaced if it exists).")
    content: Value = Field(
        description="What to upload: a file reference from another node, bytes or text."
    )
    contentType: Text | None = Field(
        None, description="Content type; from the file reference or the key's extension if unset."
    )
    metadata: Value | None = Field(None, description="User metadata (x-amz-meta-*), a map.")
    multipartThreshold: ByteSize = Field(
        "8Mi",
        validate_default=True,
        description="Objects from this size up are uploaded in parallel parts.",
    )
    partSize: ByteSize = Field(
        "8Mi", validate_default=True, description="Size of each part (at least 5Mi)."
    )

    @field_validator("partSize")
    @classmethod
    def _part_size(cls, value: int) -> int:
        if value < MIN_PART:
            raise ValueError("partSize must be at least 5Mi (S3's smallest part)")
        return value


class S3Delete(Strict):
    key: Text = Field(description="Object key to delete (deleting a missing key succeeds).")


class S3Copy(Strict):
    key: Text = Field(description="Source object key.")
    toKey: Text = Field(description="Target object key.")
    toBucket: Text | None = Field(None, description="Target bucket; the same bucket if unset.")


class S3Presign(Strict):
    key: Text = Field(description="Object key the URL gives access to.")
    method: Literal["GET", "PUT"] = Field(
        "GET", description="GET to download the object, PUT to upload it."
    )
    expires: Duration = Field(
        "1h", validate_default=True, description="How long the URL stays valid (at most 7 days)."
    )
    contentType: Text | None = Field(
        None, description="PUT only: the Content-Type the uploader must send."
    )

    @field_validator("expires")
    @classmethod
    def _at_most_a_week(cls, value: float) -> float:
        if not 1 <= value <= 7 * 86400:
            raise ValueError("expires must be between 1s and 7 days")
        return value


OPERATIONS = ("list", "get", "put", "delete", "copy", "move", "presign")


class S3Config(OneOperation):
    KIND = "s3"
    OPERATIONS = OPERATIONS

    @staticmethod
    def _field(operation: str) -> str:
        return "copy_" if operation == "copy" else operation  # `copy` shadows BaseModel.copy

    bucket: Text = Field(description="Bucket name.")
    region: str | None = Field(
        None, description="Region, e.g. eu-west-1; from the environment if unset."
    )
    endpointUrl: str | None = Field(
        None, description="Endpoint of an S3-compatible store (MinIO, Ceph): http(s)://host:port."
    )
    accessKeyId: SecretRef | None = Field(
        None, description="Access key id; the runner's environment credentials if unset."
    )
    secretAccessKey: SecretRef | None = Field(None, description="Secret access key.")
    sessionToken: SecretRef | None = Field(None, description="Session token (temporary keys).")
    forcePathStyle: bool = Field(
        False, description="Address buckets as endpoint/bucket (most S3-compatible stores)."
    )
    timeout: Duration = Field(
        "30s",
        validate_default=True,
        description="Limit for connecting and for each wait on the service.",
    )
    list: S3List | None = Field(None, description="List objects.")
    get: S3Get | None = Field(None, description="Download an object (spooled to disk).")
    put: S3Put | None = Field(None, description="Upload a file reference, bytes or text.")
    delete: S3Delete | None = Field(None, description="Delete an object.")
    copy_: S3Copy | None = Field(None, alias="copy", description="Copy an object server-side.")
    move: S3Copy | None = Field(None, description="Copy an object, then delete the source.")
    presign: S3Presign | None = Field(None, description="Make a presigned GET or PUT URL.")

    @model_validator(mode="after")
    def _consistent(self) -> S3Config:
        if (self.accessKeyId is None) != (self.secretAccessKey is None):
            raise ValueError("accessKeyId and secretAccessKey go together")
        if self.sessionToken is not None and self.accessKeyId is None:
            raise ValueError("sessionToken needs accessKeyId and secretAccessKey")
        return self

    def _op(self, name: str) -> Any:
        return getattr(self, self._field(name))


def _settings(config: S3Config, ctx: NodeContext) -> S3Settings:
    def secret(ref: SecretRef | None) -> str | None:
        return ctx.reveal(ref) if ref is not None else None

    return S3Settings(
        region=config.region,
        endpoint_url=config.endpointUrl,
        access_key_id=secret(config.accessKeyId),
        secret_access_key=secret(config.secretAccessKey),
        session_token=secret(config.sessionToken),
        path_style=config.forcePathStyle,
        timeout=config.timeout,
    )


async def _close(handle: S3Handle) -> None:
    await asyncio.to_thread(handle.close)


def _content_type(content: Any, key: str) -> str:
    if is_file_ref(content) and content.get("contentType"):
        return str(content["contentType"])
    guessed = mimetypes.guess_type(key)[0]
    if guessed:
        return guessed
    return "text/plain; charset=utf-8" if isinstance(content, str) else "application/octet-stream"


def _fetched_type(stored: str | None, name: str) -> str | None:
    # Objects stored without a type come back as S3's generic default; the name says more.
    if stored in (None, "", "binary/octet-stream", "application/octet-stream"):
        return mimetypes.guess_type(name)[0] or stored
    return stored


async def run(config: S3Config, ctx: NodeContext) -> Any:
    settings = _settings(config, ctx)
    handle: S3Handle = ctx.resources.get(settings.pool_key(), lambda: S3Handle(settings), _close)
    bucket = ctx.text(config.bucket)
    operation = config.operation
    op: Any = config._op(operation)
    key = ctx.text(op.key) if operation != "list" else ctx.text(op.prefix)
    where = f"s3://{bucket}/{key}"
    stop = threading.Event()

    async def call(action: Callable[[Any], T]) -> T:
        try:
            return await asyncio.to_thread(lambda: action(handle.client()))
        except asyncio.CancelledError:
            stop.set()
            raise
        except Exception as exc:
            raise translate(exc, where, settings.endpoint_url) from None

    if operation == "list":
        regex = re.compile(op.regex) if op.regex else None
        return await call(lambda c: s3_ops.list_objects(c, bucket, key, regex, op.limit))
    if operation == "get":
        name = posixpath.basename(key) or "object"
        target = ctx.spool.new_path(name)
        info = await call(lambda c: s3_ops.download(c, bucket, key, target, stop))
        return file_ref(
            target,
            name,
            size=info["size"],
            content_type=_fetched_type(info["contentType"], name),
            source=where,
        )
    if operation == "put":
        content = ctx.eval(op.content)
        metadata = ctx.eval(op.metadata) or {}
        if not isinstance(metadata, dict):
            raise ConfigError(f"{where}: metadata must be a map, got {type(metadata).__name__}")
        extra = {
            "ContentType": ctx.text(op.contentType)
            if op.contentType
            else _content_type(content, key),
            "Metadata": {str(k): str(v) for k, v in metadata.items()},
        }
        size = await call(
            lambda c: s3_ops.upload(
                c,
                content,
                bucket,
                key,
                extra=extra,
                threshold=op.multipartThreshold,
                part_size=op.partSize,
                stop=stop,
            )
        )
        return {"bucket": bucket, "key": key, "size": size}
    if operation == "delete":
        await call(lambda c: c.delete_object(Bucket=bucket, Key=key))
        return {"bucket": bucket, "key": key}
    if operation in ("copy", "move"):
        to_bucket = ctx.text(op.toBucket) if op.toBucket else bucket
        to_key = ctx.text(op.toKey)
        if operation == "move" and (to_bucket, to_key) == (bucket, key):
            raise ConfigError(f"{where}: cannot move an object onto itself")

        def copy(c: Any) -> None:
            s3_ops.copy(
                c, (bucket, key), (to_bucket, to_key), threshold=64 * MIB, part_size=64 * MIB
            )
            if operation == "move":
                c.delete_object(Bucket=bucket, Key=key)

        await call(copy)
        return {"bucket": bucket, "key": key, "toBucket": to_bucket, "toKey": to_key}
    params: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if op.method == "PUT" and op.contentType is not None:
        params["ContentType"] = ctx.text(op.contentType)
    return await call(lambda c: _presign(c, params, op))


def _presign(client: Any, params: dict[str, Any], op: S3Presign) -> dict[str, Any]:
    url = client.generate_presigned_url(
        "get_object" if op.method == "GET" else "put_object",
        Params=params,
        ExpiresIn=int(op.expires),
        HttpMethod=op.method,
    )
    expires_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=int(op.expires))
    return {"url": url, "method": op.method, "expiresAt": expires_at.isoformat()}


KIND = NodeKind(
    "s3",
    S3Config,
    run,
    "List, get, put, delete, copy, move and presign objects in S3 or S3-compatible stores.",
)
