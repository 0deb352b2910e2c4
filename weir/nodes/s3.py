"""`s3`: list, get, put, delete, copy, move and presign objects in S3 or an S3-compatible store.

Downloads are spooled to disk and passed on as file references; uploads stream from a file
reference, bytes or text, in parallel parts above the multipart threshold. The file system is
``weir.nodes.fs.s3``; here are the connection settings and the operations, which name objects
by key and have S3's own outputs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import posixpath
import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from weir.lang.durations import Duration
from weir.lang.errors import ConfigError
from weir.lang.expressions import Text, Value
from weir.lang.types import ByteSize, SecretRef
from weir.nodes.connections import origin, peek
from weir.nodes.context import NodeContext
from weir.nodes.fs.base import Payload
from weir.nodes.fs.ops import compiled_regex, download
from weir.nodes.fs.s3 import Parts, S3FileSystem
from weir.nodes.fs.s3_client import S3Handle, S3Settings
from weir.nodes.kind import NodeKind
from weir.nodes.operations import OneOperation, Operation

MIB = 1024 * 1024
MIN_PART = 5 * MIB
"""S3's smallest part (all but the last) in a multipart upload."""

S3Op = Operation[S3FileSystem]


class S3List(S3Op):
    prefix: Text | None = Field(None, description="Only keys starting with this prefix.")
    regex: str | None = Field(None, description="Regular expression searched in each key.")
    limit: int | None = Field(None, ge=1, description="Return at most this many objects.")

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        return compiled_regex(value)

    async def run(self, target: S3FileSystem, ctx: NodeContext) -> Any:
        prefix = ctx.text(self.prefix)
        regex = re.compile(self.regex) if self.regex else None

        def listing() -> list[dict[str, Any]]:
            objects: list[dict[str, Any]] = []
            for info in target.list(prefix):
                if regex is not None and not regex.search(info.path):
                    continue
                modified = info.modified.isoformat() if info.modified else None
                objects.append(
                    {"key": info.path, "size": info.size, "etag": info.etag, "modified": modified}
                )
                if self.limit is not None and len(objects) >= self.limit:
                    break
            return objects

        return await target.call(listing, prefix)


class S3Get(S3Op):
    key: Text = Field(description="Object key to download; the output is a file reference.")

    async def run(self, target: S3FileSystem, ctx: NodeContext) -> Any:
        key = ctx.text(self.key)
        return await download(target, key, posixpath.basename(key) or "object", ctx.spool)


class S3Put(S3Op):
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

    async def run(self, target: S3FileSystem, ctx: NodeContext) -> Any:
        key = ctx.text(self.key)
        content = ctx.eval(self.content)
        metadata = ctx.eval(self.metadata) or {}
        if not isinstance(metadata, dict):
            raise ConfigError(
                f"{target.where(key)}: metadata must be a map, got {type(metadata).__name__}"
            )
        payload = Payload(
            content,
            content_type=ctx.text(self.contentType) if self.contentType else None,
            metadata={str(k): str(v) for k, v in metadata.items()},
        )
        parts = Parts(self.multipartThreshold, self.partSize)
        written = await target.call(lambda: target.write(key, payload, parts=parts), key)
        return {"bucket": target.bucket, "key": key, "size": written.size}


class S3Delete(S3Op):
    key: Text = Field(description="Object key to delete (deleting a missing key succeeds).")

    async def run(self, target: S3FileSystem, ctx: NodeContext) -> Any:
        key = ctx.text(self.key)
        await target.call(lambda: target.delete(key), key)
        return {"bucket": target.bucket, "key": key}


class S3Copy(S3Op):
    key: Text = Field(description="Source object key.")
    toKey: Text = Field(description="Target object key.")
    toBucket: Text | None = Field(None, description="Target bucket; the same bucket if unset.")

    async def run(self, target: S3FileSystem, ctx: NodeContext) -> Any:
        return await self._copy(target, ctx, move=False)

    async def _copy(self, target: S3FileSystem, ctx: NodeContext, *, move: bool) -> Any:
        key = ctx.text(self.key)
        to_bucket = ctx.text(self.toBucket) if self.toBucket else target.bucket
        to_key = ctx.text(self.toKey)
        if move and (to_bucket, to_key) == (target.bucket, key):
            raise ConfigError(f"{target.where(key)}: cannot move an object onto itself")

        def copy() -> None:
            target.copy(key, to_key, bucket=to_bucket)
            if move:
                target.delete(key)

        await target.call(copy, key)
        return {"bucket": target.bucket, "key": key, "toBucket": to_bucket, "toKey": to_key}


class S3Move(S3Copy):
    async def run(self, target: S3FileSystem, ctx: NodeContext) -> Any:
        return await self._copy(target, ctx, move=True)


class S3Presign(S3Op):
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

    async def run(self, target: S3FileSystem, ctx: NodeContext) -> Any:
        key = ctx.text(self.key)
        content_type = ctx.text(self.contentType) if self.contentType is not None else None
        seconds = int(self.expires)
        url = await target.call(
            lambda: target.presign(key, self.method, seconds, content_type), key
        )
        expires_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
        return {"url": url, "method": self.method, "expiresAt": expires_at.isoformat()}


class S3Config(OneOperation[S3FileSystem]):
    KIND = "s3"

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
    move: S3Move | None = Field(None, description="Copy an object, then delete the source.")
    presign: S3Presign | None = Field(None, description="Make a presigned GET or PUT URL.")

    @model_validator(mode="after")
    def _consistent(self) -> S3Config:
        if (self.accessKeyId is None) != (self.secretAccessKey is None):
            raise ValueError("accessKeyId and secretAccessKey go together")
        if self.sessionToken is not None and self.accessKeyId is None:
            raise ValueError("sessionToken needs accessKeyId and secretAccessKey")
        return self


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


def file_system(config: S3Config, ctx: NodeContext) -> S3FileSystem:
    """The bucket, on the runner's shared clients (also a files trigger's)."""
    settings = _settings(config, ctx)
    handle: S3Handle = ctx.resources.get(settings.pool_key(), lambda: S3Handle(settings), _close)
    return S3FileSystem(handle, ctx.text(config.bucket))


async def run(config: S3Config, ctx: NodeContext) -> Any:
    return await config.operation.run(file_system(config, ctx), ctx)


def connection(config: S3Config, ctx: NodeContext) -> str | None:
    """The endpoint and bucket: their circuit breaker's key."""
    endpoint = origin(config.endpointUrl) if config.endpointUrl else "s3:/"
    return f"{endpoint}/{peek(config.bucket, ctx)}"


KIND = NodeKind(
    "s3",
    S3Config,
    run,
    "List, get, put, delete, copy, move and presign objects in S3 or S3-compatible stores.",
    connection,
)
