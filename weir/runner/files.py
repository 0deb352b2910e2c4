"""Files travelling between nodes, without ever holding a large file in memory.

A node that fetches a file (SFTP get, S3 get, IMAP attachment, file read with ``as: file``)
spools it into the execution's temporary directory and outputs a *file reference*, a small
JSON object::

    {"$file": "/tmp/weir-x/0001-report.csv", "name": "report.csv", "size": 1048576,
     "contentType": "text/csv", "source": "sftp://files.example.com/in/report.csv"}

A node that sends a file (SFTP put, S3 put, SMB put, mail attachment) accepts a file reference,
bytes or text, and reads it as a stream through ``open_content``. The spool directory is removed
when the execution ends.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from weir.runner.errors import ConfigError

FILE_MARKER = "$file"


def file_ref(
    path: str | Path,
    name: str,
    *,
    size: int | None = None,
    content_type: str | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    path = Path(path)
    ref: dict[str, Any] = {
        FILE_MARKER: str(path),
        "name": name,
        "size": path.stat().st_size if size is None else size,
    }
    if content_type:
        ref["contentType"] = content_type
    if source:
        ref["source"] = source
    return ref


def is_file_ref(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get(FILE_MARKER), str)


def content_size(value: Any) -> int:
    if is_file_ref(value):
        return os.stat(value[FILE_MARKER]).st_size
    if isinstance(value, bytes):
        return len(value)
    return len(str(value).encode("utf-8"))


@contextmanager
def open_content(value: Any) -> Iterator[IO[bytes]]:
    """A binary stream over a file reference, bytes or text."""
    if is_file_ref(value):
        try:
            stream = open(value[FILE_MARKER], "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            raise ConfigError(
                f"file {value.get('name')!r} is no longer available (spooled files live only "
                "during the execution that fetched them)"
            ) from None
        with stream:
            yield stream
    elif isinstance(value, bytes | bytearray):
        yield io.BytesIO(bytes(value))
    elif isinstance(value, str):
        yield io.BytesIO(value.encode("utf-8"))
    else:
        raise ConfigError(f"expected a file reference, bytes or text, got {type(value).__name__}")


class Spool:
    """The per-execution directory where fetched files are spooled; created on first use."""

    def __init__(self, prefix: str = "weir-") -> None:
        self._prefix = prefix
        self._dir: Path | None = None
        self._count = 0

    def new_path(self, name: str) -> Path:
        import tempfile

        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix=self._prefix))
        self._count += 1
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in Path(name).name) or "file"
        return self._dir / f"{self._count:04d}-{safe}"

    def cleanup(self) -> None:
        import shutil

        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
