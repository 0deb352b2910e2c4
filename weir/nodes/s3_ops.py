"""The `s3` node's operations (blocking; run in a worker thread).

Downloads stream the response body to a spool file in chunks. Uploads go through boto3's
transfer manager: one PUT below the multipart threshold, parallel parts above it, read from the
spooled file part by part, so memory stays at a few parts whatever the object's size.
``stop`` is set when the node is cancelled so that a transfer gives up at the next chunk.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from pathlib import Path
from typing import Any

from weir.nodes.spool import content_size, is_file_ref, open_content, spooled_path

CHUNK = 1024 * 1024
CONCURRENCY = 4
"""Parts in flight during a multipart upload or copy; memory is bounded by about this many
parts (for uploads from bytes or text, whose data is in memory anyway)."""


class Cancelled(Exception):
    """The node was cancelled while its transfer was running."""


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, dt.datetime) else None


def _etag(value: str | None) -> str | None:
    return value.strip('"') if value else value


def list_objects(
    client: Any, bucket: str, prefix: str, regex: re.Pattern[str] | None, limit: int | None
) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    for page in pages:
        for item in page.get("Contents", []):
            if regex is not None and not regex.search(item["Key"]):
                continue
            objects.append(
                {
                    "key": item["Key"],
                    "size": item["Size"],
                    "etag": _etag(item.get("ETag")),
                    "modified": _iso(item.get("LastModified")),
                }
            )
            if limit is not None and len(objects) >= limit:
                return objects
    return objects


def download(
    client: Any, bucket: str, key: str, target: Path, stop: threading.Event
) -> dict[str, Any]:
    """Stream the object into ``target``; returns its size, content type and ETag."""
    response = client.get_object(Bucket=bucket, Key=key)
    body = response["Body"]
    size = 0
    try:
        with open(target, "wb") as local:
            for chunk in body.iter_chunks(CHUNK):
                if stop.is_set():
                    raise Cancelled()
                local.write(chunk)
                size += len(chunk)
    finally:
        body.close()
    return {
        "size": size,
        "contentType": response.get("ContentType"),
        "etag": _etag(response.get("ETag")),
    }


def transfer_config(threshold: int, part_size: int) -> Any:
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(
        multipart_threshold=threshold,
        multipart_chunksize=part_size,
        max_concurrency=CONCURRENCY,
        max_io_queue=CONCURRENCY,
    )


def upload(
    client: Any,
    content: Any,
    bucket: str,
    key: str,
    *,
    extra: dict[str, Any],
    threshold: int,
    part_size: int,
    stop: threading.Event,
) -> int:
    """Upload a file reference, bytes or text; returns its size."""

    def progress(amount: int) -> None:
        if stop.is_set():
            raise Cancelled()

    config = transfer_config(threshold, part_size)
    if is_file_ref(content):
        with open_content(content):  # fails clearly when the spooled file is gone
            pass
        # By file name, parts are read from disk as they are sent, never all at once.
        client.upload_file(
            spooled_path(content), bucket, key, ExtraArgs=extra, Config=config, Callback=progress
        )
    else:
        with open_content(content) as stream:
            client.upload_fileobj(
                stream, bucket, key, ExtraArgs=extra, Config=config, Callback=progress
            )
    return content_size(content)


def copy(
    client: Any,
    source: tuple[str, str],
    target: tuple[str, str],
    *,
    threshold: int,
    part_size: int,
) -> None:
    """Server-side copy; objects over the threshold are copied in parts (over 5 GiB works)."""
    client.copy(
        {"Bucket": source[0], "Key": source[1]},
        target[0],
        target[1],
        Config=transfer_config(threshold, part_size),
    )
