"""The `s3` file system: one bucket of S3 or an S3-compatible store, through boto3.

Paths are object keys. Downloads stream the response body in chunks. Uploads go through
boto3's transfer manager: one PUT below the multipart threshold, parallel parts above it, read
from the spooled file part by part, so memory stays at a few parts whatever the object's size.
Copies run inside the store. An object store has no directories: ``list`` gives every object
under a prefix, and ``mkdir`` makes the zero-byte ``prefix/`` marker consoles show as a folder.
"""

from __future__ import annotations

import errno
import mimetypes
import posixpath
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from weir.lang.errors import NodeError
from weir.nodes.fs.base import (
    CHUNK,
    Cancelled,
    FileInfo,
    FileSystem,
    Payload,
    Reading,
    Written,
)
from weir.nodes.fs.s3_client import S3Handle, translate
from weir.nodes.spool import is_file_ref

MIB = 1024 * 1024
CONCURRENCY = 4
"""Parts in flight during a multipart upload or copy; memory is bounded by about this many
parts (for uploads from bytes or text, whose data is in memory anyway)."""
COPY_PART = 64 * MIB
"""Objects over this size are copied in parts: over S3's 5 GiB single-copy limit too."""


@dataclass(frozen=True)
class Parts:
    """When an upload goes in parts, and how large they are."""

    threshold: int = 8 * MIB
    size: int = 8 * MIB


def transfer_config(parts: Parts) -> Any:
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(
        multipart_threshold=parts.threshold,
        multipart_chunksize=parts.size,
        max_concurrency=CONCURRENCY,
        max_io_queue=CONCURRENCY,
    )


def _etag(value: str | None) -> str | None:
    return value.strip('"') if value else value


def _content_type(content: Any, key: str) -> str:
    if is_file_ref(content) and content.get("contentType"):
        return str(content["contentType"])
    guessed = mimetypes.guess_type(key)[0]
    if guessed:
        return guessed
    return "text/plain; charset=utf-8" if isinstance(content, str) else "application/octet-stream"


def _is_missing(exc: BaseException) -> bool:
    from botocore.exceptions import ClientError

    return isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in (
        "404",
        "NoSuchKey",
        "NotFound",
    )


class S3FileSystem(FileSystem):
    error_type = "s3"

    def __init__(self, handle: S3Handle, bucket: str) -> None:
        super().__init__()
        self.handle = handle
        self.bucket = bucket
        self._client: Any = None

    @property
    def labels(self) -> dict[str, str]:
        return {"bucket": self.bucket}

    def where(self, path: str) -> str:
        return f"s3://{self.bucket}/{path}"

    def translate(self, exc: BaseException, path: str) -> NodeError:
        return translate(exc, self.where(path), self.handle.settings.endpoint_url)

    @contextmanager
    def session(self) -> Iterator[None]:
        self._client = self.handle.client()  # created on first use, in the worker thread
        try:
            yield
        finally:
            self._client = None

    @property
    def client(self) -> Any:
        if self._client is None:
            raise RuntimeError("an S3 operation outside FileSystem.call")
        return self._client

    def list(self, directory: str) -> Iterator[FileInfo]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=directory
        )
        for page in pages:
            for item in page.get("Contents", []):
                key = item["Key"]
                yield FileInfo(
                    posixpath.basename(key.rstrip("/")),
                    key,
                    key.endswith("/"),
                    item["Size"],
                    item.get("LastModified"),
                    _etag(item.get("ETag")),
                )

    def stat(self, path: str, *, follow: bool = True) -> FileInfo:
        for key in (path, path.rstrip("/") + "/"):  # an object, else a folder marker
            try:
                head = self.client.head_object(Bucket=self.bucket, Key=key)
            except Exception as exc:
                if _is_missing(exc):
                    continue
                raise
            name = posixpath.basename(path.rstrip("/"))
            size, modified = head["ContentLength"], head.get("LastModified")
            return FileInfo(name, path, key.endswith("/"), size, modified, _etag(head.get("ETag")))
        raise FileNotFoundError(errno.ENOENT, "no such object", path)

    @contextmanager
    def open_read(self, path: str) -> Iterator[Reading]:
        response = self.client.get_object(Bucket=self.bucket, Key=path)
        body = response["Body"]
        try:
            yield Reading(
                body.iter_chunks(CHUNK),
                self.where(path),
                response.get("ContentLength"),
                response.get("ContentType"),
            )
        finally:
            body.close()

    def write(self, path: str, payload: Payload, *, parts: Parts | None = None) -> Written:
        """Upload a file reference, bytes or text, with its content type and metadata."""
        stop = self.stop

        def progress(amount: int) -> None:
            if stop.is_set():
                raise Cancelled()

        extra = {
            "ContentType": payload.content_type or _content_type(payload.value, path),
            "Metadata": dict(payload.metadata),
        }
        options = {"ExtraArgs": extra, "Config": transfer_config(parts or Parts())}
        spooled = payload.spooled()
        if spooled is not None:
            with payload.open():  # fails clearly when the spooled file is gone
                pass
            # By file name, parts are read from disk as they are sent, never all at once.
            self.client.upload_file(spooled, self.bucket, path, Callback=progress, **options)
        else:
            with payload.open() as stream:
                self.client.upload_fileobj(stream, self.bucket, path, Callback=progress, **options)
        return Written(path, payload.size())

    def delete(self, path: str, *, directory: bool = False) -> None:
        """Deleting a missing key succeeds, as in S3."""
        key = path.rstrip("/") + "/" if directory else path
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def copy(self, path: str, to: str, *, bucket: str | None = None) -> None:
        """Copy inside the store, to this bucket or ``bucket``."""
        self.client.copy(
            {"Bucket": self.bucket, "Key": path},
            bucket or self.bucket,
            to,
            Config=transfer_config(Parts(COPY_PART, COPY_PART)),
        )

    def rename(self, path: str, to: str, *, overwrite: bool) -> None:
        """A copy, then the source deleted: S3 has no rename."""
        if not overwrite and self.exists(to):
            raise FileExistsError(errno.EEXIST, "the target exists", to)
        self.copy(path, to)
        self.delete(path)

    def mkdir(self, path: str) -> None:
        if self.exists(path):
            raise FileExistsError(errno.EEXIST, "exists", path)
        self.client.put_object(Bucket=self.bucket, Key=path.rstrip("/") + "/", Body=b"")

    def presign(self, path: str, method: str, expires: int, content_type: str | None) -> str:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": path}
        if method == "PUT" and content_type is not None:
            params["ContentType"] = content_type
        url: str = self.client.generate_presigned_url(
            "get_object" if method == "GET" else "put_object",
            Params=params,
            ExpiresIn=expires,
            HttpMethod=method,
        )
        return url
