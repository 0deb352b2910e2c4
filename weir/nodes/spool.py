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

import errno
import fcntl
import io
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

from weir.lang.errors import ConfigError, NodeError

FILE_MARKER = "$file"

_SPECIAL_KINDS = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


def special_file_error(mode: int, shown: str) -> NodeError | None:
    """The error for opening ``shown`` when ``mode`` is a FIFO, a socket or a device."""
    kind = _SPECIAL_KINDS.get(stat.S_IFMT(mode))
    if kind is None:
        return None
    return NodeError(
        f"{shown} is {kind}, not a regular file: special files are refused (reading a FIFO "
        "waits for a writer forever, a device never ends)",
        type="file",
    )


def open_regular(path: str | os.PathLike[str], flags: int, shown: str, mode: int = 0o666) -> int:
    """``os.open`` that refuses special files without blocking on them.

    The file is opened non-blocking (a FIFO with no writer would block the open itself), checked
    with ``fstat`` on the open descriptor (no window for a swap), and set back to blocking. A
    directory raises IsADirectoryError as ``open`` does.
    """
    try:
        descriptor = os.open(path, flags | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a socket, or a FIFO opened for writing with no reader
            with suppress(OSError):  # a NodeError raised inside passes
                refused = special_file_error(os.stat(path).st_mode, shown)
                if refused is not None:
                    raise refused from None
        raise
    try:
        info = os.fstat(descriptor)
        refused = special_file_error(info.st_mode, shown)
        if refused is not None:
            raise refused
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
        status = fcntl.fcntl(descriptor, fcntl.F_GETFL)
        fcntl.fcntl(descriptor, fcntl.F_SETFL, status & ~os.O_NONBLOCK)
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


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


_SPOOLS: set[str] = set()
"""The spool directories alive in this process: the only places a file reference may point."""


def spooled_path(value: dict[str, Any]) -> str:
    """The path of a file reference, if a node of this runner spooled it. A flow can write
    ``{"$file": "/any/path"}`` itself; honouring it would let the flow send any local file
    (a mounted token, another flow's data) anywhere."""
    path = os.path.realpath(value[FILE_MARKER])
    if not any(path.startswith(root + os.sep) for root in _SPOOLS):
        if not os.path.lexists(path):  # e.g. recorded by an earlier execution, now replayed
            raise ConfigError(
                f"file {value.get('name')!r} is no longer available (spooled files live only "
                "during the execution that fetched them)"
            )
        raise ConfigError(
            f"file reference {value.get('name')!r} does not point to a file a node fetched in "
            "this runner: file references come from nodes (sftp, s3, smb, mail, file read as "
            "file), a flow cannot name a local path"
        )
    return path


def content_size(value: Any) -> int:
    if is_file_ref(value):
        return os.stat(spooled_path(value)).st_size
    if isinstance(value, bytes):
        return len(value)
    return len(str(value).encode("utf-8"))


@contextmanager
def open_content(value: Any) -> Iterator[IO[bytes]]:
    """A binary stream over a file reference, bytes or text."""
    if is_file_ref(value):
        shown = f"file {value.get('name')!r}"
        try:
            descriptor = open_regular(spooled_path(value), os.O_RDONLY, shown)
        except FileNotFoundError:
            raise ConfigError(
                f"{shown} is no longer available (spooled files live only "
                "during the execution that fetched them)"
            ) from None
        with os.fdopen(descriptor, "rb") as stream:
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
            self._dir = Path(os.path.realpath(tempfile.mkdtemp(prefix=self._prefix)))
            _SPOOLS.add(str(self._dir))
        self._count += 1
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in Path(name).name) or "file"
        return self._dir / f"{self._count:04d}-{safe}"

    def cleanup(self) -> None:
        import shutil

        if self._dir is not None:
            _SPOOLS.discard(str(self._dir))
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
