"""The file-system contract of the file-like node kinds (`file`, `sftp`, `smb`, `s3`).

A ``FileSystem`` is one node's view of one place to keep files: a base directory, an SFTP
server, a share, a bucket. Its operations block (the libraries behind them do) and are called
from a worker thread through ``call``, which also holds the adapter's session (an SFTP channel)
and turns whatever was raised into a node error with one shared mapping. Transfers move in
chunks and check ``stop``, set when the node is cancelled, between chunks: a file of any size
costs a few megabytes of memory.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import errno
import hashlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import IO, Any, ClassVar, TypeVar

from weir.lang.errors import ConfigError, NodeError, NotFound
from weir.nodes.spool import content_size, is_file_ref, open_content, spooled_path

T = TypeVar("T")

CHUNK = 1024 * 1024
"""Bytes moved at a time: a transfer of any size holds about this much in memory."""


class Cancelled(Exception):
    """The node was cancelled while its transfer was running."""


class AlreadyExists(NodeError):
    type = "exists"


# -- what the operations exchange --------------------------------------------------------------


@dataclass(frozen=True)
class FileInfo:
    """An entry of a listing, or what ``stat`` found."""

    name: str
    path: str
    """As the file system names it: for the node's output and for further calls."""
    is_dir: bool
    size: int
    modified: dt.datetime | None = None
    etag: str | None = None
    """The object's ETag, without quotes (object stores)."""

    def entry(self) -> dict[str, Any]:
        """The entry as a `list` operation outputs it."""
        return {
            "name": self.name,
            "path": self.path,
            "size": self.size,
            "modified": self.modified.isoformat() if self.modified else None,
            "isDir": self.is_dir,
        }


def digest(*parts: object) -> str:
    """A digest of a connection's credentials: it keeps connections with other credentials
    apart in the runner's resources without keeping the secrets themselves in the key."""
    material = "\0".join(str(part) for part in parts)
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def modified_at(seconds: float | None) -> dt.datetime | None:
    return None if seconds is None else dt.datetime.fromtimestamp(seconds, dt.UTC)


@dataclass
class Reading:
    """A file open for reading: its chunks, and what opening it told about it."""

    chunks: Iterator[bytes]
    source: str
    """The file as a URL, for the file reference (``sftp://host/path``, ``s3://bucket/key``)."""
    size: int | None = None
    content_type: str | None = None
    """The type the store keeps with the file, if it keeps one."""


@dataclass(frozen=True)
class Written:
    path: str
    """The file as the node outputs it (an SFTP server names it absolutely)."""
    size: int


@dataclass(frozen=True)
class Payload:
    """What a write sends: a file reference, bytes or text, and what a store may keep with it."""

    value: Any
    content_type: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    def open(self) -> AbstractContextManager[IO[bytes]]:
        return open_content(self.value)

    def spooled(self) -> str | None:
        """The local file behind a file reference, for stores that send a file by name."""
        return spooled_path(self.value) if is_file_ref(self.value) else None

    def size(self) -> int:
        return content_size(self.value)


def copy_chunks(
    chunks: Iterable[bytes], write: Callable[[bytes], Any], stop: threading.Event
) -> int:
    size = 0
    for chunk in chunks:
        if stop.is_set():
            raise Cancelled()
        write(chunk)
        size += len(chunk)
    return size


def chunks_of(stream: IO[bytes]) -> Iterator[bytes]:
    return iter(lambda: stream.read(CHUNK), b"")


def copy_stream(source: IO[bytes], target: IO[bytes], stop: threading.Event) -> int:
    return copy_chunks(chunks_of(source), target.write, stop)


# -- errors --------------------------------------------------------------------------------------


def is_missing(exc: BaseException) -> bool:
    """A file or directory that does not exist, whichever library said so."""
    return isinstance(exc, OSError) and exc.errno == errno.ENOENT


def common_error(exc: BaseException, where: str, error_type: str) -> NodeError | None:
    """The node error every file system gives for ``exc`` on ``where``; None when it is not one
    of these and the adapter knows better (a connection, a login, its own service errors)."""
    if isinstance(exc, NodeError):
        return exc
    if isinstance(exc, Cancelled):
        return NodeError(f"transfer of {where} was cancelled", type="cancelled")
    if not isinstance(exc, OSError) or exc.errno is None:
        return None
    code = exc.errno
    if code == errno.ENOENT:
        return NotFound(f"{where}: no such file or directory")
    if code in (errno.EACCES, errno.EPERM):
        return NodeError(f"{where}: permission denied", type="permission")
    if code == errno.EEXIST:
        return AlreadyExists(f"{where} already exists")
    if code == errno.ENOTEMPTY:
        return NodeError(f"{where} is a directory that is not empty", type=error_type)
    if code == errno.EISDIR:
        return ConfigError(f"{where} is a directory, not a file")
    if code == errno.ENOTDIR:
        return ConfigError(f"{where}: a part of the path is not a directory")
    return None


def fallback_error(exc: BaseException, where: str, error_type: str) -> NodeError:
    if isinstance(exc, OSError):
        return NodeError(f"{where}: {exc.strerror or exc}", type=error_type)
    return NodeError(f"{where}: {type(exc).__name__}: {exc}", type=error_type)


# -- the contract --------------------------------------------------------------------------------


class FileSystem(ABC):
    """One node's file system. Paths are strings in the file system's own terms (relative to a
    base directory, absolute on a server, keys in a bucket) and pass through ``path`` first.

    The operations block and raise ``OSError`` (``errno`` set: ENOENT for a missing entry,
    EEXIST for an existing one...) or their library's errors; ``translate`` maps those.
    """

    error_type: ClassVar[str]
    """The node error type of a failure nothing more specific describes (`file`, `sftp`...)."""

    def __init__(self) -> None:
        self.stop = threading.Event()

    # -- naming

    @property
    @abstractmethod
    def labels(self) -> dict[str, str]:
        """The fields that name this file system in the operations' outputs (``host``...)."""

    def path(self, text: str, *, allow_root: bool = False) -> str:
        """``text`` as this file system's path, refused with a ConfigError if it may not be
        used (``allow_root``: the root itself may be named, for `list` and `mkdir`)."""
        return text

    @abstractmethod
    def where(self, path: str) -> str:
        """``path`` as error messages show it: with the host, share or base directory."""

    # -- running

    @contextmanager
    def session(self) -> Iterator[None]:
        """Held around each ``call`` (an SFTP channel, say); nothing by default."""
        yield

    def translate(self, exc: BaseException, path: str) -> NodeError:
        """The node error for ``exc``, raised on ``path``; called in the worker thread, so an
        adapter may ask its server what went wrong."""
        where = self.where(path)
        return common_error(exc, where, self.error_type) or fallback_error(
            exc, where, self.error_type
        )

    async def call(self, work: Callable[[], T], path: str) -> T:
        """Run ``work`` (calls to this file system) in a worker thread within one session."""

        def in_session() -> T:
            try:
                with self.session():
                    return work()
            except Exception as exc:
                raise self.translate(exc, path) from None

        try:
            return await asyncio.to_thread(in_session)
        except asyncio.CancelledError:
            self.stop.set()  # a transfer in the thread gives up at its next chunk
            raise

    # -- operations (blocking)

    @abstractmethod
    def list(self, directory: str) -> Iterable[FileInfo]:
        """The entries directly in ``directory``, symbolic links as links (never followed). An
        object store, which has no directories, gives every object whose key starts with it."""

    @abstractmethod
    def stat(self, path: str, *, follow: bool = True) -> FileInfo:
        """What ``path`` is; ``follow=False`` describes a symbolic link itself."""

    def exists(self, path: str) -> bool:
        try:
            self.stat(path)
        except OSError as exc:
            if is_missing(exc):
                return False
            raise
        return True

    @abstractmethod
    def open_read(self, path: str) -> AbstractContextManager[Reading]:
        """The file's content, in chunks of about ``CHUNK`` bytes."""

    @abstractmethod
    def write(self, path: str, payload: Payload) -> Written:
        """Stream ``payload`` into ``path``, replacing a file there; its parent must exist.
        The adapter reads the payload itself: a local file is written whole or not at all, an
        object store sends a spooled file in parts straight from disk."""

    @abstractmethod
    def delete(self, path: str, *, directory: bool = False) -> None:
        """Remove a file or a symbolic link, or else (``directory``) an empty directory."""

    @abstractmethod
    def rename(self, path: str, to: str, *, overwrite: bool) -> None:
        """Move ``path`` to ``to``, whose parent exists. An existing ``to`` is replaced with
        ``overwrite``, else refused with FileExistsError, and then nothing moves."""

    @abstractmethod
    def mkdir(self, path: str) -> None:
        """Create one directory, its parent existing; FileExistsError if ``path`` exists."""
